public import Foundation
public import NIOCore

/// A message to publish: a unique id, a type, an optional ordering key, a payload and headers.
///
/// ```swift
/// let message = OutgoingMessage(
///     id: outboxRow.id.uuidString,             // unique, chosen by the caller (consumers dedupe on it)
///     type: "order.placed",
///     payload: ByteBuffer(string: json),
///     headers: ["traceparent": traceparent],
///     key: orderID                              // messages with one key can be handled in order
/// )
/// ```
public struct OutgoingMessage: Sendable, Hashable {
    /// The caller's unique id of the message (a UUID, an outbox row id). It travels with every delivery, retry and
    /// dead letter, so consumers can recognise repeats; it is not the stream entry id.
    public var id: String
    /// What the message is (`order.placed`); 1–256 bytes.
    public var type: String
    /// The ordering key: with ``QueueOrdering/perKey``, messages with one key are handled one at a time, in order.
    public var key: String?
    /// The body, any bytes.
    public var payload: ByteBuffer
    /// Headers such as `traceparent`; names are 1–256 bytes.
    public var headers: [String: String]
    /// When the message was first published; nil means now. An outbox relay passes the time the event was
    /// recorded, so latency figures include the time it waited in the outbox.
    public var publishedAt: Date?

    /// Creates a message.
    /// - Parameters:
    ///   - id: The message's unique id; a new UUID by default.
    ///   - type: What the message is.
    ///   - payload: The body.
    ///   - headers: Headers such as `traceparent`.
    ///   - key: The ordering key, if order matters.
    ///   - publishedAt: When the message was first published; nil means now.
    public init(
        id: String = UUID().uuidString,
        type: String,
        payload: ByteBuffer,
        headers: [String: String] = [:],
        key: String? = nil,
        publishedAt: Date? = nil
    ) {
        self.id = id
        self.type = type
        self.payload = payload
        self.headers = headers
        self.key = key
        self.publishedAt = publishedAt
    }

    /// Creates a message with a UTF-8 string payload.
    /// - Parameters:
    ///   - id: The message's unique id; a new UUID by default.
    ///   - type: What the message is.
    ///   - payload: The body, as UTF-8.
    ///   - headers: Headers such as `traceparent`.
    ///   - key: The ordering key, if order matters.
    ///   - publishedAt: When the message was first published; nil means now.
    public init(
        id: String = UUID().uuidString,
        type: String,
        payload: String,
        headers: [String: String] = [:],
        key: String? = nil,
        publishedAt: Date? = nil
    ) {
        self.init(
            id: id,
            type: type,
            payload: ByteBuffer(string: payload),
            headers: headers,
            key: key,
            publishedAt: publishedAt
        )
    }

    /// Creates a message whose payload is `value` encoded as JSON.
    /// - Parameters:
    ///   - id: The message's unique id; a new UUID by default.
    ///   - type: What the message is.
    ///   - value: The body, encoded with `encoder`.
    ///   - headers: Headers such as `traceparent`.
    ///   - key: The ordering key, if order matters.
    ///   - encoder: The JSON encoder.
    /// - Throws: What the encoder throws.
    public init(
        id: String = UUID().uuidString,
        type: String,
        json value: some Encodable,
        headers: [String: String] = [:],
        key: String? = nil,
        encoder: JSONEncoder = JSONEncoder()
    ) throws {
        self.init(
            id: id,
            type: type,
            payload: ByteBuffer(bytes: try encoder.encode(value)),
            headers: headers,
            key: key
        )
    }

    func validate() throws {
        guard !self.id.isEmpty, self.id.utf8.count <= 256 else {
            throw StreamQueueError.invalidMessage("the message id must be 1-256 bytes")
        }
        guard !self.type.isEmpty, self.type.utf8.count <= 256 else {
            throw StreamQueueError.invalidMessage("the message type must be 1-256 bytes")
        }
        if let key = self.key, key.utf8.count > 1024 {
            throw StreamQueueError.invalidMessage("the ordering key must be at most 1024 bytes")
        }
        for name in self.headers.keys where name.isEmpty || name.utf8.count > 256 {
            throw StreamQueueError.invalidMessage("header names must be 1-256 bytes")
        }
    }
}

/// What publishing a message did.
public struct PublishReceipt: Sendable, Hashable {
    /// The message's id.
    public var messageID: String
    /// The stream entry id: of the new entry, or, for a duplicate, of the entry published first.
    public var entryID: String
    /// True when a message with this id was already published within the deduplication window, so nothing was
    /// added.
    public var isDuplicate: Bool

    /// Creates a receipt.
    /// - Parameters:
    ///   - messageID: The message's id.
    ///   - entryID: The stream entry id.
    ///   - isDuplicate: Whether nothing was added.
    public init(messageID: String, entryID: String, isDuplicate: Bool) {
        self.messageID = messageID
        self.entryID = entryID
        self.isDuplicate = isDuplicate
    }
}
