public import Foundation

/// One event of a message's history, as the queue's scripts recorded it (Redis server time).
///
/// Events are recorded where something other than a first, successful delivery happens: a failed attempt, a
/// takeover from a crashed or stalled consumer, a dead letter, a replay, a deletion, and the handling of a
/// redelivery. A message handled on its first delivery has no events (see ``MessageHistory/groups`` for where it
/// is).
public struct MessageEvent: Sendable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable {
        /// A handler attempt threw; the message waits in the delayed set until ``MessageEvent/retryAt``.
        case failed
        /// A consumer took the delivery over from another that left it idle past the visibility timeout (it
        /// crashed or stalled), or that handed it back unstarted at its graceful shutdown.
        case takenOver = "taken-over"
        /// The message went to the dead letters (``MessageEvent/reason``).
        case deadLettered = "dead-lettered"
        /// An operator replayed its dead letter.
        case replayed
        /// A redelivery (a retry or a replay) was handled and acknowledged.
        case handled
        /// An operator deleted its dead letter.
        case deleted
    }

    /// What happened.
    public var kind: Kind
    /// When.
    public var at: Date
    /// The consumer group it happened in.
    public var group: String
    /// The consumer that failed, handled or took over the delivery, or held it when it was dead-lettered.
    public var consumer: String?
    /// A takeover's previous owner.
    public var previousConsumer: String?
    /// The handler attempt (failed, handled) or attempts made (dead-lettered).
    public var attempt: Int?
    /// Deliveries of the entry so far (takeovers, delivery-limit dead letters).
    public var deliveries: Int?
    /// The handler's error (failed, dead-lettered).
    public var error: String?
    /// Why it was dead-lettered.
    public var reason: DeadLetterReason?
    /// When the retry is due (failed).
    public var retryAt: Date?
    /// The stream entry the event is about: the delivery's, or the new redelivery's (replayed).
    public var entryID: String?
    /// Whether ``entryID`` is in the group's retry stream rather than the topic's stream.
    public var inRetryStream: Bool
    /// The dead letter's id (dead-lettered, replayed, deleted).
    public var deadLetterID: String?

    /// Reads an event as the scripts store it (JSON with one-letter keys); nil when it is not one.
    init?(json: String) {
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8)),
            let kind = Kind(rawValue: stored.e)
        else { return nil }
        self.kind = kind
        self.at = Date(timeIntervalSince1970: stored.t / 1000)
        self.group = stored.g ?? ""
        self.consumer = stored.c
        self.previousConsumer = stored.p
        self.attempt = stored.a
        self.deliveries = stored.k
        self.error = stored.x
        self.reason = stored.w.flatMap(DeadLetterReason.init(rawValue:))
        self.retryAt = stored.r.map { Date(timeIntervalSince1970: $0 / 1000) }
        self.entryID = stored.n
        self.inRetryStream = stored.s == 1
        self.deadLetterID = stored.d
    }

    /// The stored form: see `QueueScripts` (`record`).
    private struct Stored: Decodable {
        var e: String
        var t: Double
        var g: String?
        var c: String?
        var p: String?
        var a: Int?
        var k: Int?
        var x: String?
        var w: String?
        var r: Double?
        var n: String?
        var s: Int?
        var d: String?
    }
}
