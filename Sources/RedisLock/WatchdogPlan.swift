/// When the watchdog of ``RedisLocks/withLock(_:lease:wait:_:)`` renews a lease and how long each attempt may
/// take: arithmetic over instants, tested without clocks or Redis.
struct WatchdogPlan: Sendable {
    /// The lease each renewal sets.
    let lease: Duration
    /// How far ahead of the lease's end in Redis it is given up.
    let margin: Duration
    /// The time from one renewal's send to the next one's.
    let renewInterval: Duration
    /// The time from a failed attempt to the next one.
    let retryInterval: Duration

    /// The plan for `lease` under `configuration`.
    ///
    /// Renewals run every ``RedisLockConfiguration/renewInterval`` (a third of the lease by default), but at
    /// least twice within the lease's validity (`(lease - margin) / 2`); after a failure the next attempt comes
    /// after a quarter of that interval.
    init(lease: Duration, configuration: RedisLockConfiguration) {
        self.lease = lease
        self.margin = configuration.safetyMargin(for: lease)
        let interval = min(configuration.renewInterval ?? lease / 3, (lease - self.margin) / 2)
        self.renewInterval = max(interval, .milliseconds(1))
        self.retryInterval = max(self.renewInterval / 4, .milliseconds(1))
    }

    /// The next attempt after the acquisition or renewal sent at `sentAt` was confirmed, valid until
    /// `validUntil`: after the renewal interval, or halfway to `validUntil` if that is sooner (a lease taken for
    /// less than the one the watchdog renews to).
    func nextAttempt(
        afterRenewalSentAt sentAt: ContinuousClock.Instant,
        validUntil: ContinuousClock.Instant
    ) -> ContinuousClock.Instant {
        sentAt.advanced(by: min(self.renewInterval, sentAt.duration(to: validUntil) / 2))
    }

    /// The next attempt after one that failed (or timed out) at `now`.
    func nextAttempt(afterFailureAt now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        now.advanced(by: self.retryInterval)
    }

    /// How long an attempt started at `now` may wait for its reply: until the lease's validity ends (a later
    /// reply is of no use) and at most `commandTimeout`, so that a connection that stopped answering is given
    /// up in time for another attempt. Nil when no time is left.
    func attemptTimeout(
        at now: ContinuousClock.Instant,
        validUntil: ContinuousClock.Instant,
        commandTimeout: Duration?
    ) -> Duration? {
        let left = now.duration(to: validUntil)
        guard left > .zero else { return nil }
        return commandTimeout.map { min($0, left) } ?? left
    }
}
