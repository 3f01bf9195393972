/// Settings of a ``RedisLocks`` instance; every field has a safe default.
public struct RedisLockConfiguration: Sendable {
    /// Prefix of every key and of the release channel. Lock `x` uses `<prefix>{x}` and `<prefix>{x}:fence`
    /// (one hash tag, so one script can touch both on Redis Cluster).
    public var keyPrefix: String = "lock:"
    /// How long a lease lasts without renewal. A holder that dies frees the lock after this.
    public var lease: Duration = .seconds(10)
    /// How often ``RedisLocks/withLock(_:lease:wait:_:)`` renews the lease while its body runs; defaults to a
    /// third of the lease.
    public var renewInterval: Duration?
    /// How long ``RedisLocks/acquire(_:lease:wait:)`` waits for a held lock by default.
    public var wait: Duration = .seconds(5)
    /// When waiters cannot rely on release notices (the manager's ``RedisLocks/run()`` is not running, or the
    /// subscription is being restored), they retry at most this far apart.
    public var fallbackPollInterval: Duration = .milliseconds(100)
    /// A label stored in the lock's value to show who holds it (an instance id); never a secret.
    public var owner: String = "redis-lock"

    /// Creates a configuration with defaults.
    public init() {}

    var effectiveRenewInterval: Duration {
        self.renewInterval ?? self.lease / 3
    }
}
