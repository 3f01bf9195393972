/// Settings of a ``RedisLocks`` instance; every field has a safe default.
public struct RedisLockConfiguration: Sendable {
    /// Prefix of every key and of the release channel. Lock `x` uses `<prefix>{x}` and `<prefix>{x}:fence`
    /// (one hash tag, so one script can touch both on Redis Cluster).
    public var keyPrefix: String = "lock:"
    /// How long a lease lasts without renewal. A holder that dies frees the lock after this.
    public var lease: Duration = .seconds(10)
    /// How often ``RedisLocks/withLock(_:lease:wait:_:)`` renews the lease while its body runs; defaults to a
    /// third of the lease being renewed (the one passed to `withLock`, else ``lease``), and is shortened when
    /// needed so that at least two renewals fit in that lease less its safety margin. After a failed renewal
    /// the next attempt comes after a quarter of this.
    public var renewInterval: Duration?
    /// How long before a lease can end in Redis its holder stops relying on it: the watchdog cancels the body
    /// and ``RedisLockLease/isHeld`` turns false this long before the key can have expired, counted from when
    /// the last confirmed acquisition or renewal was *sent*, whatever Redis does meanwhile (answers late,
    /// stalls, or is gone). `nil`: a tenth of the lease, at least 5 ms, plus a clock drift allowance of 1% of the
    /// lease and 2 ms (as in Redlock). At most half the lease is used.
    public var leaseSafetyMargin: Duration?
    /// How long ``RedisLocks/acquire(_:lease:wait:)`` waits for a held lock by default.
    public var wait: Duration = .seconds(5)
    /// When waiters cannot rely on release notices (the manager's ``RedisLocks/run()`` is not running, or the
    /// subscription is being restored), they retry at most this far apart.
    public var fallbackPollInterval: Duration = .milliseconds(100)
    /// A label stored in the lock's value to show who holds it (an instance id); never a secret.
    public var owner: String = "redis-lock"

    /// Creates a configuration with defaults.
    public init() {}

    /// The safety margin used for a lease of `lease` (see ``leaseSafetyMargin``).
    func safetyMargin(for lease: Duration) -> Duration {
        let drift = lease / 100 + .milliseconds(2)
        let margin = self.leaseSafetyMargin ?? max(lease / 10, .milliseconds(5)) + drift
        return min(max(margin, .zero), lease / 2)
    }
}
