/// A failure produced by the resilience library itself (errors of the protected operation are passed through
/// unchanged).
///
/// Compare ``code`` to tell the cases apart; new codes may be added without breaking callers. The
/// ``description`` names the pipeline and the code but never includes the underlying error's text, which may
/// carry a payload.
public struct ResilienceError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case attemptTimedOut = "attempt_timed_out"
            case deadlineExceeded = "deadline_exceeded"
            case circuitOpen = "circuit_open"
            case bulkheadFull = "bulkhead_full"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// One attempt took longer than the per-attempt timeout and was cancelled.
        public static let attemptTimedOut = Self(.attemptTimedOut)
        /// The overall deadline of the call passed, or the next retry would have had to wait past it.
        public static let deadlineExceeded = Self(.deadlineExceeded)
        /// The circuit breaker refused the call: it is open, or half-open with every trial call taken.
        public static let circuitOpen = Self(.circuitOpen)
        /// The bulkhead had no free slot and the call could not wait for one (queue full or wait too long).
        public static let bulkheadFull = Self(.bulkheadFull)

        /// A stable snake_case name, as used in metric labels.
        public var description: String { self.base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The name of the pipeline, breaker or bulkhead that raised it.
    public let name: String
    /// How many attempts of the operation ran before this error (0 when none did).
    public let attempts: Int
    /// When the call may succeed again: for ``Code/circuitOpen``, the time left until the breaker lets a
    /// trial call through (nil while it is half-open and all trial calls are taken). Nil otherwise.
    public let retryAfter: Duration?
    /// The error of the last attempt, when an attempt ran (for example the provider error that the deadline
    /// cut short a retry of). Not part of ``description``.
    public let underlying: (any Error)?

    private init(
        _ code: Code,
        name: String,
        attempts: Int = 0,
        retryAfter: Duration? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.name = name
        self.attempts = attempts
        self.retryAfter = retryAfter
        self.underlying = underlying
    }

    /// An attempt ran past its timeout.
    /// - Parameters:
    ///   - name: The pipeline's name.
    ///   - timeout: The per-attempt timeout.
    ///   - attempt: The number of the attempt (1 for the first).
    public static func attemptTimedOut(_ name: String, timeout: Duration, attempt: Int) -> Self {
        var error = Self(.attemptTimedOut, name: name, attempts: attempt)
        error.timeout = timeout
        return error
    }

    /// The overall deadline passed.
    /// - Parameters:
    ///   - name: The pipeline's name.
    ///   - timeout: The overall timeout of the call.
    ///   - attempts: How many attempts ran.
    ///   - underlying: The last attempt's error, if one failed.
    public static func deadlineExceeded(
        _ name: String,
        timeout: Duration,
        attempts: Int,
        underlying: (any Error)? = nil
    ) -> Self {
        var error = Self(.deadlineExceeded, name: name, attempts: attempts, underlying: underlying)
        error.timeout = timeout
        return error
    }

    /// The circuit breaker refused the call.
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - retryAfter: The time left until it lets a trial call through, when known.
    ///   - attempts: How many attempts ran before the refusal (a retry refused after the breaker opened).
    ///   - underlying: The last attempt's error, if one failed.
    public static func circuitOpen(
        _ name: String,
        retryAfter: Duration?,
        attempts: Int = 0,
        underlying: (any Error)? = nil
    ) -> Self {
        Self(.circuitOpen, name: name, attempts: attempts, retryAfter: retryAfter, underlying: underlying)
    }

    /// The bulkhead had no slot for the call.
    /// - Parameter name: The bulkhead's name.
    public static func bulkheadFull(_ name: String) -> Self {
        Self(.bulkheadFull, name: name)
    }

    /// The timeout that fired, for ``Code/attemptTimedOut`` and ``Code/deadlineExceeded``.
    public private(set) var timeout: Duration?

    public var description: String {
        switch self.code {
        case .attemptTimedOut:
            "\(self.name): attempt \(self.attempts) timed out after \(Self.format(self.timeout))"
        case .deadlineExceeded:
            "\(self.name): deadline of \(Self.format(self.timeout)) exceeded after \(self.attempts) attempt(s)"
        case .circuitOpen:
            if let retryAfter = self.retryAfter {
                "\(self.name): circuit breaker is open (trial calls in \(Self.format(retryAfter)))"
            } else {
                "\(self.name): circuit breaker is half-open and all trial calls are taken"
            }
        case .bulkheadFull:
            "\(self.name): bulkhead is full"
        default:
            "\(self.name): \(self.code)"
        }
    }

    private static func format(_ duration: Duration?) -> String {
        guard let duration else { return "?" }
        return duration.formatted
    }
}

extension ResilienceError: RetryableError {
    /// Only a timed-out attempt may succeed when tried again; a refusal by the breaker or bulkhead, or an
    /// exceeded deadline, is final for this call.
    public var isRetryable: Bool { self.code == .attemptTimedOut }
}

extension Duration {
    /// Milliseconds with up to three decimals, for messages (`"1500ms"`, `"0.25ms"`).
    var formatted: String {
        let nanoseconds = self.nanosecondsClamped
        let whole = nanoseconds / 1_000_000
        let fraction = (nanoseconds % 1_000_000) / 1_000
        if fraction == 0 { return "\(whole)ms" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)ms"
    }

    /// The duration in whole nanoseconds, clamped to `0...Int64.max`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = self.components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
        if seconds >= Int64.max / 1_000_000_000 { return Int64.max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
