import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An event to publish once the transaction that wrote it commits.
struct OutboxEvent: Sendable, Equatable {
    /// The message id consumers see (and deduplicate on).
    var id: UUID
    /// The queue topic.
    var topic: String
    /// The message type (`order.placed`).
    var type: String
    /// The ordering key, if order matters per key.
    var key: String?
    /// JSON.
    var payload: String
    /// Message headers (trace context).
    var headers: [String: String]

    init(
        id: UUID = UUID(),
        topic: String,
        type: String,
        key: String? = nil,
        payload: String,
        headers: [String: String] = [:]
    ) {
        self.id = id
        self.topic = topic
        self.type = type
        self.key = key
        self.payload = payload
        self.headers = headers
    }
}

/// Writes events into the `outbox` table inside the caller's transaction, and records their delivery inside the
/// consumer's.
enum Outbox {
    /// Records, in the consumer's transaction, that the event with message id `messageID` has had its effects: its
    /// row is no longer owed, and the relay stops publishing it. A message id that is not an outbox row's does
    /// nothing.
    static func complete(_ messageID: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard let id = UUID(uuidString: messageID) else { return }
        try await connection.query(
            "UPDATE outbox SET completed_at = now() WHERE id = \(id) AND completed_at IS NULL",
            logger: logger
        )
    }

    /// Adds `event` on `connection` (call it inside the business transaction).
    static func append(_ event: OutboxEvent, on connection: PostgresConnection, logger: Logger) async throws {
        let headers = String(decoding: try JSONCoding.encoder.encode(event.headers), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO outbox (id, topic, type, message_key, payload, headers)
            VALUES (\(event.id), \(event.topic), \(event.type), \(event.key), \(event.payload), \(headers)::jsonb)
            """,
            logger: logger
        )
    }
}
