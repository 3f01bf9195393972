import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The inbox in PostgreSQL.
///
/// Writes for one user are serialized by a transaction-scoped advisory lock on the user, so each user's
/// `seq` grows by one in commit order; a broadcast takes the exclusive form of a shared lock every per-user
/// write takes in shared mode, so it never interleaves with them.
struct NotificationRepository: Sendable {
    let client: Database
    let logger: Logger

    /// The advisory lock key that broadcasts take exclusively and per-user writes share; per-user writes then
    /// lock the 64-bit hash of the user id.
    private static let broadcastLock: Int64 = 0x6E6F_7469_6679  // "notify"

    /// Adds a notification to a user's inbox on `connection`, inside the caller's transaction (the advisory
    /// locks are held until it ends).
    func insert(
        on connection: PostgresConnection,
        user: UUID,
        kind: String,
        title: String,
        body: String,
        data: [String: String]
    ) async throws -> Notification {
        let json = String(decoding: try JSONCoding.encoder.encode(data), as: UTF8.self)
        try await connection.query("SELECT pg_advisory_xact_lock_shared(\(Self.broadcastLock))", logger: self.logger)
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtextextended(\(user.uuidString.lowercased()), 0))",
            logger: self.logger
        )
        let rows = try await connection.query(
            """
            INSERT INTO notifications (user_id, seq, kind, title, body, data)
            SELECT \(user), coalesce(max(seq), 0) + 1, \(kind), \(title), \(body), \(json)::jsonb
            FROM notifications WHERE user_id = \(user)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: self.logger
        )
        guard let notification = try await Self.decode(rows).first else { throw NotificationMissing() }
        return notification
    }

    /// Adds one notification to every user's inbox.
    /// - Returns: How many users got it.
    func insertBroadcast(id: UUID, title: String, body: String) async throws -> Int {
        try await self.client.transaction(logger: self.logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.broadcastLock))", logger: self.logger)
            let rows = try await connection.query(
                """
                WITH inserted AS (
                    INSERT INTO notifications (user_id, seq, kind, title, body, broadcast_id)
                    SELECT u.id, coalesce((SELECT max(n.seq) FROM notifications n WHERE n.user_id = u.id), 0) + 1,
                           'broadcast', \(title), \(body), \(id)
                    FROM users u
                    RETURNING 1
                )
                SELECT count(*)::int FROM inserted
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// The user's notifications after `seq`, oldest first.
    func after(user: UUID, seq: Int64, limit: Int) async throws -> [Notification] {
        let rows = try await self.client.query(
            """
            SELECT \(unescaped: Self.columns) FROM notifications
            WHERE user_id = \(user) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
            """,
            logger: self.logger
        )
        return try await Self.decode(rows)
    }

    /// The newest id in the user's inbox (0 when empty).
    func latest(user: UUID) async throws -> Int64 {
        let rows = try await self.client.query(
            "SELECT coalesce(max(seq), 0) FROM notifications WHERE user_id = \(user)",
            logger: self.logger
        )
        for try await seq in rows.decode(Int64.self) { return seq }
        return 0
    }

    /// The rows of a broadcast for the given users (those connected to this instance).
    func broadcast(_ id: UUID, users: [UUID]) async throws -> [(UUID, Notification)] {
        let rows = try await self.client.query(
            """
            SELECT user_id, \(unescaped: Self.columns) FROM notifications
            WHERE broadcast_id = \(id) AND user_id = ANY(\(users))
            """,
            logger: self.logger
        )
        var result: [(UUID, Notification)] = []
        for try await (user, seq, kind, title, body, data, createdAt, readAt) in rows.decode(
            (UUID, Int64, String, String, String, String, Date, Date?).self
        ) {
            result.append((user, Self.notification(seq, kind, title, body, data, createdAt, readAt)))
        }
        return result
    }

    /// A page of the inbox, newest first, and the total.
    func page(user: UUID, unreadOnly: Bool, offset: Int, limit: Int) async throws -> (
        items: [Notification], total: Int, unread: Int
    ) {
        let rows = try await self.client.query(
            """
            SELECT \(unescaped: Self.columns) FROM notifications
            WHERE user_id = \(user) AND (NOT \(unreadOnly) OR read_at IS NULL)
            ORDER BY seq DESC OFFSET \(offset) LIMIT \(limit)
            """,
            logger: self.logger
        )
        let items = try await Self.decode(rows)
        let counts = try await self.client.query(
            """
            SELECT count(*)::int, count(*) FILTER (WHERE read_at IS NULL)::int FROM notifications
            WHERE user_id = \(user)
            """,
            logger: self.logger
        )
        for try await (total, unread) in counts.decode((Int, Int).self) {
            return (items, unreadOnly ? unread : total, unread)
        }
        return (items, 0, 0)
    }

    /// Marks one notification read (the first time only); nil when the user has no such notification.
    func markRead(user: UUID, seq: Int64) async throws -> Notification? {
        let rows = try await self.client.query(
            """
            UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE user_id = \(user) AND seq = \(seq)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: self.logger
        )
        return try await Self.decode(rows).first
    }

    private static let columns = "seq, kind, title, body, data::text, created_at, read_at"

    private static func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws
        -> [Notification]
    {
        var result: [Notification] = []
        for try await (seq, kind, title, body, data, createdAt, readAt) in rows.decode(
            (Int64, String, String, String, String, Date, Date?).self
        ) {
            result.append(Self.notification(seq, kind, title, body, data, createdAt, readAt))
        }
        return result
    }

    private static func notification(
        _ seq: Int64,
        _ kind: String,
        _ title: String,
        _ body: String,
        _ data: String,
        _ createdAt: Date,
        _ readAt: Date?
    ) -> Notification {
        let fields = (try? JSONCoding.decoder.decode([String: String].self, from: Data(data.utf8))) ?? [:]
        return Notification(
            id: seq,
            kind: kind,
            title: title,
            body: body,
            data: fields,
            createdAt: createdAt,
            readAt: readAt
        )
    }

    struct NotificationMissing: Error {}
}
