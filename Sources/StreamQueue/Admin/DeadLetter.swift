public import Foundation
import NIOCore
import RedisClient

/// Why a message became a dead letter.
public enum DeadLetterReason: String, Sendable, Hashable {
    /// The handler threw on every one of the allowed attempts.
    case handlerFailed = "handler-failed"
    /// The message was delivered more than the allowed number of times without being acknowledged: the
    /// consumers holding it crashed or stalled (a message that keeps killing consumers ends here).
    case deliveryLimit = "delivery-limit"
    /// The stream entry was not a message of this library (required fields missing).
    case malformed
}

/// A message that could not be handled, kept in the topic's dead-letter stream until replayed or deleted.
public struct DeadLetter: Sendable, Hashable {
    /// The dead letter's id (its entry id in the dead-letter stream): pass it to replay or delete.
    public var id: String
    /// The consumer group whose handler gave up on it.
    public var group: String
    /// Why.
    public var reason: DeadLetterReason
    /// The last error (the handler's error description, or the delivery-limit explanation).
    public var error: String
    /// Handler attempts made.
    public var attempts: Int
    /// Deliveries of the last entry that were not acknowledged (crashes or stalls).
    public var deliveries: Int
    /// The stream entry id the message had when it failed.
    public var failedEntryID: String
    /// When it was dead-lettered (Redis server time).
    public var failedAt: Date
    /// The message as it was (id, type, key, payload, headers, first publish time); nil when the entry was
    /// malformed.
    public var message: QueueMessage?

    init(entry: RedisStreamEntry, topic: String) {
        func text(_ field: String) -> String? { entry.fields[field].map { String(buffer: $0) } }
        self.id = entry.id
        self.group = text(MessageField.deadGroup) ?? ""
        self.reason = text(MessageField.deadReason).flatMap(DeadLetterReason.init(rawValue:)) ?? .handlerFailed
        self.error = text(MessageField.deadError) ?? ""
        self.attempts = text(MessageField.deadAttempts).flatMap { Int($0) } ?? 0
        self.deliveries = text(MessageField.deadDeliveries).flatMap { Int($0) } ?? 0
        self.failedEntryID = text(MessageField.deadEntry) ?? ""
        let failedAt = text(MessageField.deadFailedAt).flatMap { Double($0) } ?? 0
        self.failedAt = Date(timeIntervalSince1970: failedAt / 1000)
        self.message = QueueMessage(entry: entry, topic: topic)
    }
}
