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
    /// When the lock was taken (this process's clock).
    let acquiredAt: ContinuousClock.Instant
    private let lost = NIOLockedValueBox(false)

    init(name: String, token: String, fencingToken: Int64, locks: RedisLocks) {
        self.name = name
        self.token = token
        self.fencingToken = fencingToken
        self.locks = locks
        self.acquiredAt = .now
    }

    /// False once a renewal found the lock no longer held by this token.
    public var isHeld: Bool { !self.lost.withLockedValue { $0 } }

    /// Throws ``RedisLockError/leaseLost(_:)`` if the watchdog found the lease lost. Long-running bodies of
    /// ``RedisLocks/withLock(_:lease:wait:_:)`` can call this between steps.
    public func checkHeld() throws {
        if !self.isHeld { throw RedisLockError.leaseLost(self.name) }
    }

    /// Renews the lease to `lease` from now, if this token still holds the lock.
    /// - Parameter lease: The new lease.
    /// - Throws: ``RedisLockError/notHeld(_:)`` when the lock is no longer held with this token.
    public func extend(by lease: Duration) async throws {
        let renewed = try await self.locks.client.eval(
            RedisLockScripts.extend,
            keys: [self.locks.key(self.name)],
            arguments: [self.token, lease.leaseMilliseconds]
        ).decode(as: Int.self)
        guard renewed == 1 else {
            self.markLost()
            throw RedisLockError.notHeld(self.name)
        }
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
        if released != 1 { self.markLost() }
        return released == 1
    }

    func markLost() {
        self.lost.withLockedValue { $0 = true }
    }
}
