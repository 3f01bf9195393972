public import Foundation
public import NIOCore

/// A message delivered to a handler.
public struct QueueMessage: Sendable, Hashable {
    /// The message's unique id, as published (not the stream entry id). Handlers record it to recognise
    /// repeats: delivery is at least once.
    public var id: String
    /// What the message is.
    public var type: String
    /// The ordering key, if it was published with one.
    public var key: String?
    /// The body.
    public var payload: ByteBuffer
    /// The headers (for example `traceparent`).
    public var headers: [String: String]
    /// Which handler run this is: 1 on the first, 2 on the first retry, ...
    public var attempt: Int
    /// When the message was first published (milliseconds precision).
    public var publishedAt: Date
    /// Why the previous attempt failed, on a retry.
    public var lastError: String?
    /// The topic.
    public var topic: String
    /// The stream entry id of this delivery (a retry is a new entry in the group's retry stream).
    public var entryID: String
    /// How many times this entry has been delivered to a consumer of the group (above 1 after consumers
    /// crashed or stalled with it).
    public var deliveryCount: Int

    /// Creates a message (for tests of handlers).
    /// - Parameters:
    ///   - id: The message id.
    ///   - type: The type.
    ///   - payload: The body.
    ///   - headers: The headers.
    ///   - key: The ordering key.
    ///   - attempt: The attempt.
    ///   - publishedAt: When it was first published.
    ///   - topic: The topic.
    ///   - entryID: The stream entry id.
    public init(
        id: String,
        type: String,
        payload: ByteBuffer,
        headers: [String: String] = [:],
        key: String? = nil,
        attempt: Int = 1,
        publishedAt: Date = Date(),
        topic: String = "",
        entryID: String = "0-0"
    ) {
        self.id = id
        self.type = type
        self.payload = payload
        self.headers = headers
        self.key = key
        self.attempt = attempt
        self.publishedAt = publishedAt
        self.lastError = nil
        self.topic = topic
        self.entryID = entryID
        self.deliveryCount = 1
    }

    /// The payload as a UTF-8 string.
    public var payloadString: String { String(buffer: self.payload) }

    /// The W3C trace context header, if the publisher sent one.
    public var traceparent: String? { self.headers["traceparent"] }

    /// Decodes the payload as JSON.
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - decoder: The JSON decoder.
    /// - Returns: The decoded value.
    public func decodePayload<Value: Decodable>(
        as type: Value.Type = Value.self,
        decoder: JSONDecoder = JSONDecoder()
    ) throws -> Value {
        try decoder.decode(type, from: Data(self.payload.readableBytesView))
    }
}
