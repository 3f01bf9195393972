public import RedisClient

/// Whose fault a handler's failure is, which decides what happens to the message next.
public enum QueueFailureKind: Sendable, Hashable {
    /// The message's own: undecodable, refused by a business rule, a bug in the handler. It counts toward
    /// ``RetryPolicy/maxAttempts``, and the message goes to the dead letters after the last attempt.
    case message
    /// The infrastructure's: a dependency down, a timeout, a pool exhausted, a lock that stayed busy. The message is
    /// kept (held by this consumer, renewed by the heartbeat) and tried again after a capped backoff
    /// (``QueueConsumerConfiguration/transientBackoff``), without using up an attempt: an outage of any length
    /// never dead-letters anything.
    case transient

    /// The default classification: ``QueueTransientFailure`` and Redis unavailability
    /// (``RedisClient/RedisError/isUnavailability``) are transient; everything else is the message's.
    /// - Parameter error: What the handler threw.
    /// - Returns: The kind of failure.
    public static func classify(_ error: any Error) -> QueueFailureKind {
        if error is QueueTransientFailure { return .transient }
        if let error = error as? RedisError, error.isUnavailability { return .transient }
        return .message
    }
}

/// Thrown by a handler (or wrapped around what it caught) to say the failure was not the message's fault: the
/// message waits and is tried again without using up an attempt (see ``QueueFailureKind/transient``).
///
/// ```swift
/// do { try await database.apply(event) }
/// catch where isDatabaseDown(error) { throw QueueTransientFailure(error) }
/// ```
public struct QueueTransientFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let underlying: any Error

    /// Wraps `underlying`.
    /// - Parameter underlying: The error to wait out.
    public init(_ underlying: any Error) {
        self.underlying = underlying
    }

    public var description: String { "transient: \(self.underlying)" }
}
