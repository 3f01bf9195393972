/// An error that tells the retry logic whether trying again may help.
///
/// Conform your transport or provider errors to it (an HTTP 503 or 429, a reset connection), or give the
/// ``RetryPolicy`` a classifier of your own. Errors that do not conform are not retried by the default
/// classifier: retrying an error nobody understood usually repeats it.
public protocol RetryableError: Error {
    /// Whether a new attempt may succeed (a 503, a timeout, a refused connection), as opposed to an answer
    /// that will not change (a 400, a 404, a failed validation).
    var isRetryable: Bool { get }
    /// How long the server asked the client to wait before trying again (an HTTP `Retry-After` header).
    /// Defaults to nil.
    var retryAfter: Duration? { get }
    /// True when the request certainly had no effect on the server: it was never sent (the connection was
    /// refused), or the server refused it before doing anything (a 429, or a 503 from a load balancer that
    /// did not forward it). Only then is a non-idempotent call retried. Defaults to false: a timeout or a reset
    /// connection may come after the server acted.
    var wasNotProcessed: Bool { get }
}

extension RetryableError {
    /// No `Retry-After` by default.
    public var retryAfter: Duration? { nil }
    /// By default the request may have been processed.
    public var wasNotProcessed: Bool { false }
}

/// What a retry classifier says about one failure.
public struct RetryClassification: Sendable, Hashable {
    /// Whether a new attempt may succeed.
    public var isRetryable: Bool
    /// The delay the server asked for, if any; the retry waits at least this long.
    public var retryAfter: Duration?
    /// True when the failed request certainly had no effect, so even a non-idempotent call may be retried.
    public var wasNotProcessed: Bool

    /// Creates a classification.
    /// - Parameters:
    ///   - isRetryable: Whether a new attempt may succeed.
    ///   - retryAfter: The delay the server asked for.
    ///   - wasNotProcessed: Whether the request certainly had no effect.
    public init(isRetryable: Bool, retryAfter: Duration? = nil, wasNotProcessed: Bool = false) {
        self.isRetryable = isRetryable
        self.retryAfter = retryAfter
        self.wasNotProcessed = wasNotProcessed
    }

    /// The failure is final.
    public static let doNotRetry = Self(isRetryable: false)

    /// A new attempt may succeed.
    /// - Parameters:
    ///   - retryAfter: The delay the server asked for.
    ///   - wasNotProcessed: Whether the request certainly had no effect.
    public static func retry(after retryAfter: Duration? = nil, wasNotProcessed: Bool = false) -> Self {
        Self(isRetryable: true, retryAfter: retryAfter, wasNotProcessed: wasNotProcessed)
    }

    /// The default classifier: ``RetryableError``s say for themselves; cancellation and every other error
    /// are not retried.
    /// - Parameter error: The failure.
    /// - Returns: Its classification.
    @Sendable
    public static func standard(_ error: any Error) -> Self {
        if error is CancellationError { return .doNotRetry }
        guard let retryable = error as? any RetryableError else { return .doNotRetry }
        return Self(
            isRetryable: retryable.isRetryable,
            retryAfter: retryable.retryAfter,
            wasNotProcessed: retryable.wasNotProcessed
        )
    }
}
