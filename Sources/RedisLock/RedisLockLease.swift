import NIOConcurrencyHelpers
import RedisClient

/// A held lock: its token, its fencing token, and the operations only the holder may do.
///
/// The lease expires by itself if it is not renewed; ``release()`` and ``extend(by:)`` act only while this
/// token still holds the lock, so an old holder can never release or extend a lock someone else took over.
public final class RedisLockLease: Sendable {
    /// The lock's name.
    public let name: String
    /// The value stored in Redis: owner label and 128 random bits. Identifies this holder.
    public let token: String
    /// A number that grows by one every time anyone acquires this lock. Pass it to the protected resource
    /// and have it reject writes carrying a smaller number than one it has already seen: a holder whose lease
    /// expired (a long GC pause, a network partition) then cannot overwrite a newer holder's work.
    public let fencingToken: Int64

    let locks: RedisLocks
    /// When the lock was known to be taken: when the acquisition's reply arrived (this process's clock).
    let acquiredAt: ContinuousClock.Instant
    private let validity: NIOLockedValueBox<LeaseValidity>

    /// A lease whose acquisition for `lease` was sent at `sentAt`.
    init(
        name: String,
        token: String,
        fencingToken: Int64,
        locks: RedisLocks,
        sentAt: ContinuousClock.Instant,
        lease: Duration
    ) {
        self.name = name
        self.token = token
        self.fencingToken = fencingToken
        self.locks = locks
        self.acquiredAt = .now
        self.validity = NIOLockedValueBox(
            LeaseValidity(sentAt: sentAt, lease: lease, margin: locks.configuration.safetyMargin(for: lease))
        )
    }

    /// True while the lock can be relied on: not released, not found taken over, not given up by the watchdog,
    /// and its lease — counted from when the last confirmed acquisition or renewal was sent, less
    /// ``RedisLockConfiguration/leaseSafetyMargin`` — not run out.
    public var isHeld: Bool {
        let now = ContinuousClock.now
        return self.validity.withLockedValue { $0.isValid(at: now) }
    }

    /// Throws ``RedisLockError/leaseLost(_:)`` unless ``isHeld``. Long-running bodies of
    /// ``RedisLocks/withLock(_:lease:wait:_:)`` can call this between steps.
    public func checkHeld() throws {
        if !self.isHeld { throw RedisLockError.leaseLost(self.name) }
    }

    /// Renews the lease to `lease` from now, if this token still holds the lock.
    /// - Parameter lease: The new lease.
    /// - Throws: ``RedisLockError/notHeld(_:)`` when the lock is no longer held with this token.
    public func extend(by lease: Duration) async throws {
        try await self.renew(to: lease, timeout: nil)
    }

    /// Releases the lock if this token still holds it, and wakes its waiters.
    /// - Returns: True when released; false when the lease had already expired (someone else may hold it now).
    @discardableResult
    public func release() async throws -> Bool {
        let released = try await self.locks.client.eval(
            RedisLockScripts.release,
            keys: [self.locks.key(self.name)],
            arguments: [self.token, self.locks.channel, self.name]
        ).decode(as: Int.self)
        self.markLost()
        return released == 1
    }

    /// Renews the lease to `lease`, waiting at most `timeout` for the reply (nil: the command timeout), and
    /// counts the new lease from when the renewal was sent.
    /// - Throws: ``RedisLockError/notHeld(_:)`` when the lock is no longer held with this token.
    func renew(to lease: Duration, timeout: Duration?) async throws {
        let sentAt = ContinuousClock.now
        let renewed = try await self.locks.client.evalLockScript(
            RedisLockScripts.extend,
            keys: [self.locks.key(self.name)],
            arguments: [self.token, lease.leaseMilliseconds],
            timeout: timeout
        ).decode(as: Int.self)
        guard renewed == 1 else {
            self.markLost()
            throw RedisLockError.notHeld(self.name)
        }
        let margin = self.locks.configuration.safetyMargin(for: lease)
        self.validity.withLockedValue { $0.renewed(sentAt: sentAt, lease: lease, margin: margin) }
    }

    /// Until when the lease can be relied on (see ``isHeld``).
    var validUntil: ContinuousClock.Instant {
        self.validity.withLockedValue { $0.validUntil }
    }

    /// When the newest confirmed acquisition or renewal was sent.
    var confirmedSentAt: ContinuousClock.Instant {
        self.validity.withLockedValue { $0.confirmedSentAt }
    }

    /// Gives the lease up if its validity has run out; returns until when it is valid, nil once it is over.
    func giveUpIfExpired() -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        return self.validity.withLockedValue { $0.endIfExpired(at: now) }
    }

    /// The lease is gone (taken over, released, or given up): ``isHeld`` is false from now on.
    func markLost() {
        self.validity.withLockedValue { $0.end() }
    }
}
