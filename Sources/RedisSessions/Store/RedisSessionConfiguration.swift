/// How a ``RedisSessionStore`` names its keys and how long sessions live.
public struct RedisSessionConfiguration: Sendable, Equatable {
    /// Put in front of every key the store writes (`shop:auth:` gives `shop:auth:session:{<hash>}`), so
    /// several applications or test runs can share one Redis.
    public var keyPrefix: String
    /// Sliding idle timeout: a session that is not used for this long expires.
    public var idleTimeout: Duration
    /// Absolute lifetime: a session expires this long after it was created, however active it is.
    public var absoluteLifetime: Duration
    /// The least time between two writes of "last seen" (and extensions of the idle timeout) for one session.
    ///
    /// Loading a session is one Lua script either way; this only saves the write. The price: the idle timeout
    /// counts from the last *recorded* use, which is at most this much older than the last use. Zero records
    /// every use. Must be shorter than ``idleTimeout``.
    public var touchInterval: Duration
    /// A pub/sub channel on which the store announces every session it ends (revoked, signed out, replaced at
    /// sign-in, rotated away), or nil for no announcements.
    ///
    /// Each message is the ended sessions' storage hashes (``SessionID/storageHash``), comma-separated; read it
    /// with ``SessionRevocations/storageHashes(in:)``. The `PUBLISH` goes in the same pipeline as the deletion,
    /// after it, so a subscriber that hears of a session finds it gone. Sessions that end by expiring are not
    /// announced (Redis expires them on its own); holders of long-lived connections check
    /// ``RedisSessionStore/exists(_:)`` now and then for those, and after a pub/sub gap.
    public var revocationChannel: String?

    /// Creates a configuration.
    /// - Parameters:
    ///   - keyPrefix: Put in front of every key (may be empty; must not contain `{` or `}`).
    ///   - idleTimeout: Sliding idle timeout (default 30 minutes).
    ///   - absoluteLifetime: Absolute lifetime (default 12 hours).
    ///   - touchInterval: Least time between two "last seen" writes (default 60 seconds).
    ///   - revocationChannel: Where ended sessions are announced (default nil: nowhere).
    public init(
        keyPrefix: String = "sessions:",
        idleTimeout: Duration = .seconds(30 * 60),
        absoluteLifetime: Duration = .seconds(12 * 60 * 60),
        touchInterval: Duration = .seconds(60),
        revocationChannel: String? = nil
    ) {
        self.keyPrefix = keyPrefix
        self.idleTimeout = idleTimeout
        self.absoluteLifetime = absoluteLifetime
        self.touchInterval = touchInterval
        self.revocationChannel = revocationChannel
    }

    /// Checks the values; ``RedisSessionStore/init(redis:configuration:logger:now:)`` calls it.
    /// - Throws: ``SessionStoreError`` `.invalidConfiguration` naming the field.
    public func validate() throws(SessionStoreError) {
        guard !self.keyPrefix.contains("{"), !self.keyPrefix.contains("}") else {
            throw .invalidConfiguration("keyPrefix must not contain { or } (they delimit Redis Cluster hash tags)")
        }
        guard self.idleTimeout >= .milliseconds(1) else {
            throw .invalidConfiguration("idleTimeout must be at least 1 ms")
        }
        guard self.absoluteLifetime >= .milliseconds(1) else {
            throw .invalidConfiguration("absoluteLifetime must be at least 1 ms")
        }
        guard self.touchInterval >= .zero, self.touchInterval < self.idleTimeout else {
            throw .invalidConfiguration("touchInterval must be at least 0 and shorter than idleTimeout")
        }
        if let channel = self.revocationChannel, channel.isEmpty {
            throw .invalidConfiguration("revocationChannel must not be empty (use nil for no announcements)")
        }
    }
}

/// The timing rules of a session, in whole milliseconds of the Unix epoch.
///
/// The same rules run inside the store's Lua scripts (which read the session's fields atomically); this type
/// is their Swift statement, used when a session is created and by the tests.
public struct SessionLifetime: Sendable, Equatable {
    /// Idle timeout in milliseconds.
    public var idleMilliseconds: Int64
    /// Absolute lifetime in milliseconds.
    public var lifetimeMilliseconds: Int64
    /// Touch throttle in milliseconds.
    public var touchMilliseconds: Int64

    /// The rules of `configuration`.
    /// - Parameter configuration: A validated configuration.
    public init(_ configuration: RedisSessionConfiguration) {
        self.idleMilliseconds = configuration.idleTimeout.wholeMilliseconds
        self.lifetimeMilliseconds = configuration.absoluteLifetime.wholeMilliseconds
        self.touchMilliseconds = configuration.touchInterval.wholeMilliseconds
    }

    /// The absolute deadline of a session created at `now`.
    /// - Parameter now: Creation time, milliseconds since the epoch.
    public func deadline(createdAt now: Int64) -> Int64 {
        now + self.lifetimeMilliseconds
    }

    /// The Redis TTL to set at `now`: the idle timeout, but never past the absolute deadline.
    /// - Parameters:
    ///   - now: The current time.
    ///   - deadline: The session's absolute deadline.
    /// - Returns: Milliseconds, or nil when the deadline has passed (the session is over).
    public func ttl(now: Int64, deadline: Int64) -> Int64? {
        guard now < deadline else { return nil }
        return min(self.idleMilliseconds, deadline - now)
    }

    /// Whether a use at `now` should rewrite "last seen" and extend the TTL.
    /// - Parameters:
    ///   - now: The current time.
    ///   - lastSeen: The last recorded use.
    public func shouldTouch(now: Int64, lastSeen: Int64) -> Bool {
        now - lastSeen >= self.touchMilliseconds
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a positive duration never becomes 0.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return seconds < 0 ? .min : .max }
        let (fraction, remainder) = attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000_000_000)
        return milliseconds.partialValue + fraction + (remainder > 0 ? 1 : 0)
    }
}
