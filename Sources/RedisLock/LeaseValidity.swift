/// How long a lease can be relied on, as this process sees it.
///
/// `SET ... PX` and `PEXPIRE` count the lease from when the server runs them, which is at the earliest when the
/// request was sent; the reply can come much later (a slow network, a stalled server). So the lease is counted
/// from the *send* time of the newest acquisition or renewal the server confirmed, less a safety margin for
/// clock drift and timer lateness (``RedisLockConfiguration/safetyMargin(for:)``): until ``validUntil`` the key
/// cannot have expired in Redis.
struct LeaseValidity: Sendable {
    /// When the newest confirmed acquisition or renewal was sent.
    private(set) var confirmedSentAt: ContinuousClock.Instant
    /// Until when the lease can be relied on.
    private(set) var validUntil: ContinuousClock.Instant
    /// Set when the lease is known to be gone (taken over, released, or given up by the watchdog); final.
    private(set) var isOver = false

    /// A lease whose acquisition was sent at `sentAt`.
    init(sentAt: ContinuousClock.Instant, lease: Duration, margin: Duration) {
        self.confirmedSentAt = sentAt
        self.validUntil = sentAt.advanced(by: lease - margin)
    }

    /// True while the lease can be relied on at `now`.
    func isValid(at now: ContinuousClock.Instant) -> Bool {
        !self.isOver && now < self.validUntil
    }

    /// The server confirmed a renewal to `lease` that was sent at `sentAt`.
    ///
    /// The newest *sent* renewal decides (Redis applies one connection's commands in order), so a reply that
    /// overtakes a newer one's does not move the validity.
    mutating func renewed(sentAt: ContinuousClock.Instant, lease: Duration, margin: Duration) {
        guard !self.isOver, sentAt >= self.confirmedSentAt else { return }
        self.confirmedSentAt = sentAt
        self.validUntil = sentAt.advanced(by: lease - margin)
    }

    /// The lease is gone: taken over, released, or given up.
    mutating func end() {
        self.isOver = true
    }

    /// Ends the lease if its validity has run out at `now`. Returns the instant it is valid until, or nil when
    /// it is over.
    mutating func endIfExpired(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        if !self.isOver && now >= self.validUntil { self.isOver = true }
        return self.isOver ? nil : self.validUntil
    }
}
