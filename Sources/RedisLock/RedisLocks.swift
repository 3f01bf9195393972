public import Logging
import Metrics
import NIOConcurrencyHelpers
public import RedisClient
public import ServiceLifecycle
import Tracing

/// Distributed locks on Redis: `SET NX PX` with a unique token, release and renewal only by the holder,
/// fencing tokens, waiters woken by release notices, and a watchdog that keeps a lease alive while work runs.
///
/// Run it as a `Service` (after its `RedisClient`): ``run()`` listens for release notices so waiters wake
/// within a round trip of a release instead of polling. Without it, waiters still work but retry at
/// ``RedisLockConfiguration/fallbackPollInterval``.
///
/// ```swift
/// let locks = RedisLocks(client: redis, configuration: .init(), logger: logger)
/// try await locks.withLock("product:42") { lease in
///     // ... work; pass lease.fencingToken to the database write ...
/// }
/// if let lease = try await locks.tryAcquire("nightly-report") { ...; try await lease.release() }
/// ```
///
/// Locks are not reentrant and not strictly fair: a release wakes the longest-waiting waiter of each instance
/// (FIFO within an instance), and those race across instances.
public final class RedisLocks: Sendable, Service {
    /// The settings.
    public let configuration: RedisLockConfiguration
    let client: RedisClient
    let logger: Logger
    let waiters = LockWaiters(timer: EventLoopWaitTimer())
    private let listening = NIOLockedValueBox(false)
    let metrics = RedisLockMetrics()

    /// Creates a lock manager.
    /// - Parameters:
    ///   - client: The Redis client (run it as a service too).
    ///   - configuration: Lease, wait, key prefix.
    ///   - logger: Where to log.
    public init(client: RedisClient, configuration: RedisLockConfiguration = .init(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    /// The pub/sub channel release notices are published on (the payload is the lock name).
    public var channel: String { self.configuration.keyPrefix + "released" }

    func key(_ name: String) -> String { "\(self.configuration.keyPrefix){\(name)}" }
    func fenceKey(_ name: String) -> String { "\(self.configuration.keyPrefix){\(name)}:fence" }

    // MARK: Service

    /// Listens for release notices until graceful shutdown, resubscribing after failures.
    public func run() async throws {
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.client.subscribe(to: [self.channel]) { subscription in
                        self.listening.withLockedValue { $0 = true }
                        defer { self.listening.withLockedValue { $0 = false } }
                        // Attempts made before the subscription was active may have missed a notice.
                        self.waiters.wakeAll()
                        for try await event in subscription {
                            switch event {
                            case .message(let message): self.waiters.wake(message.payloadString)
                            case .gap: self.waiters.wakeAll()
                            }
                        }
                    }
                }
            } catch let error as RedisError where error.code == .shutdown {
                return
            } catch is CancellationError {
                return
            } catch {
                attempt += 1
                self.logger.warning(
                    "lock release notices unavailable, waiters fall back to polling",
                    metadata: ["error": "\(error)"]
                )
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << min(attempt, 6))))
            }
        }
    }

    // MARK: Acquiring

    /// Tries once to take the lock.
    /// - Parameters:
    ///   - name: The lock's name (1–200 characters, no `{`, `}` or control characters).
    ///   - lease: How long the lease lasts; defaults to the configured lease.
    /// - Returns: The lease, or nil when someone else holds the lock.
    public func tryAcquire(_ name: String, lease: Duration? = nil) async throws -> RedisLockLease? {
        try Self.validate(name)
        let span = LockTracing.start("try-acquire", lock: name)
        defer { span?.end() }
        let token = self.makeToken()
        let leaseDuration = lease ?? self.configuration.lease
        let sentAt = ContinuousClock.now
        switch try await self.attempt(name, token: token, lease: leaseDuration, span: span) {
        case .acquired(let fence):
            self.metrics.acquired(waited: .zero)
            span?.attributes["lock.acquired"] = true
            span?.attributes["lock.fencing_token"] = Int(fence)
            return RedisLockLease(
                name: name,
                token: token,
                fencingToken: fence,
                locks: self,
                sentAt: sentAt,
                lease: leaseDuration
            )
        case .held:
            self.metrics.busy()
            span?.attributes["lock.acquired"] = false
            return nil
        }
    }

    /// Takes the lock, waiting up to `wait` while someone else holds it. Waiters are woken by the holder's
    /// release (through ``run()``), or when the holder's lease runs out.
    ///
    /// Returns or throws within `wait` plus one attempt, whatever Redis does: an attempt is one script call,
    /// bounded by the client's command timeout (and its connect timeout when a connection must be opened), and
    /// the last one starts when the wait ends. Redis errors are thrown as they are.
    /// - Parameters:
    ///   - name: The lock's name.
    ///   - lease: How long the lease lasts; defaults to the configured lease.
    ///   - wait: How long to wait; defaults to the configured wait.
    /// - Returns: The lease.
    /// - Throws: ``RedisLockError/timedOut(_:)`` when the wait ends first; `CancellationError` when cancelled.
    public func acquire(_ name: String, lease: Duration? = nil, wait: Duration? = nil) async throws -> RedisLockLease {
        try Self.validate(name)
        let span = LockTracing.start("acquire", lock: name)
        var attempts = 0
        defer {
            span?.attributes["lock.attempts"] = attempts
            span?.end()
        }
        let leaseDuration = lease ?? self.configuration.lease
        let start = ContinuousClock.now
        let deadline = start.advanced(by: wait ?? self.configuration.wait)
        let token = self.makeToken()
        let waiter = self.waiters.register(name)
        var acquired = false
        defer { self.waiters.unregister(waiter, name: name, passingWake: !acquired) }
        while true {
            try Task.checkCancellation()
            let sentAt = ContinuousClock.now
            attempts += 1
            switch try await self.attempt(name, token: token, lease: leaseDuration, span: span) {
            case .acquired(let fence):
                acquired = true
                self.metrics.acquired(waited: ContinuousClock.now - start)
                span?.attributes["lock.fencing_token"] = Int(fence)
                return RedisLockLease(
                    name: name,
                    token: token,
                    fencingToken: fence,
                    locks: self,
                    sentAt: sentAt,
                    lease: leaseDuration
                )
            case .held(let remainingLease):
                let remainingWait = deadline - ContinuousClock.now
                guard remainingWait > .zero else {
                    self.metrics.timedOut()
                    span?.recordError(RedisLockError.timedOut(name))
                    throw RedisLockError.timedOut(name)
                }
                // Sleep until a release notice, the holder's lease ends, or the wait ends.
                var nap = remainingWait
                if let remainingLease { nap = min(nap, remainingLease + .milliseconds(1)) }
                if !self.listening.withLockedValue({ $0 }) || remainingLease == nil {
                    nap = min(nap, self.configuration.fallbackPollInterval)
                }
                await self.waiters.wait(waiter, name: name, timeout: nap)
            }
        }
    }

    /// Runs `body` while holding the lock, renewing the lease in the background, and releases it afterwards.
    ///
    /// If a renewal finds the lease lost (taken over, or expired), or no renewal has been confirmed in time —
    /// the lease, counted from when the last confirmed acquisition or renewal was sent, less
    /// ``RedisLockConfiguration/leaseSafetyMargin``, runs out, before the key can have expired in Redis — the
    /// body is cancelled and this throws ``RedisLockError/leaseLost(_:)``; the body can also check
    /// ``RedisLockLease/isHeld`` or call ``RedisLockLease/checkHeld()``. Protect the resource with
    /// ``RedisLockLease/fencingToken`` as well: cancellation reaches the body only at its next suspension point.
    /// - Parameters:
    ///   - name: The lock's name.
    ///   - lease: The lease, renewed every `renewInterval` while the body runs.
    ///   - wait: How long to wait for the lock.
    ///   - body: The work.
    /// - Returns: What `body` returns.
    public func withLock<Result: Sendable>(
        _ name: String,
        lease: Duration? = nil,
        wait: Duration? = nil,
        _ body: @escaping @Sendable (RedisLockLease) async throws -> Result
    ) async throws -> Result {
        let held = try await self.acquire(name, lease: lease, wait: wait)
        return try await self.hold(held, lease: lease ?? self.configuration.lease, body)
    }

    /// Runs `body` while holding the lock if it is free right now; returns nil at once if it is held
    /// (the "skip if someone else is already doing it" mode).
    /// - Parameters:
    ///   - name: The lock's name.
    ///   - lease: The lease, renewed while the body runs.
    ///   - body: The work.
    /// - Returns: What `body` returns, or nil when the lock was held.
    public func withLockIfAvailable<Result: Sendable>(
        _ name: String,
        lease: Duration? = nil,
        _ body: @escaping @Sendable (RedisLockLease) async throws -> Result
    ) async throws -> Result? {
        guard let held = try await self.tryAcquire(name, lease: lease) else { return nil }
        return try await self.hold(held, lease: lease ?? self.configuration.lease, body)
    }

    /// Runs `body` while holding a lease taken with ``tryAcquire(_:lease:)`` or ``acquire(_:lease:wait:)``,
    /// renewing it in the background like ``withLock(_:lease:wait:_:)``, and releases it afterwards.
    ///
    /// With `holdAtLeast`, a body that finishes sooner does not release the lock: its lease is cut to end
    /// `holdAtLeast` after the lock was taken, so nobody else can take it before then (a scheduler uses this
    /// so that a node whose clock is a little behind cannot run the same tick again).
    /// - Parameters:
    ///   - held: The lease; this call owns it from now on and releases it.
    ///   - lease: The lease to renew to; defaults to the configured lease.
    ///   - holdAtLeast: The shortest time the lock stays taken, counted from its acquisition.
    ///   - body: The work.
    /// - Returns: What `body` returns.
    public func withLease<Result: Sendable>(
        _ held: RedisLockLease,
        lease: Duration? = nil,
        holdAtLeast: Duration = .zero,
        _ body: @escaping @Sendable (RedisLockLease) async throws -> Result
    ) async throws -> Result {
        try await self.hold(held, lease: lease ?? self.configuration.lease, holdAtLeast: holdAtLeast, body)
    }

    // MARK: Internals

    private enum Attempt {
        case acquired(fence: Int64)
        /// Held by someone else, whose lease ends in this long (nil: unknown or no expiry).
        case held(remaining: Duration?)
    }

    /// One acquisition script call; a Redis error is also recorded on the operation's span.
    private func attempt(_ name: String, token: String, lease: Duration, span: (any Span)?) async throws -> Attempt {
        let reply: [Int]
        do {
            reply = try await self.client.eval(
                RedisLockScripts.acquire,
                keys: [self.key(name), self.fenceKey(name)],
                arguments: [token, lease.leaseMilliseconds]
            ).decode(as: [Int].self)
        } catch {
            span?.recordError(error)
            throw error
        }
        guard reply.count == 2 else {
            throw RedisError(.unexpectedReply, "lock acquire script returned \(reply.count) values")
        }
        if reply[0] == 1 { return .acquired(fence: Int64(reply[1])) }
        return .held(remaining: reply[1] >= 0 ? .milliseconds(reply[1]) : nil)
    }

    private func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return "\(self.configuration.owner)/\(String(high, radix: 16))\(String(low, radix: 16))"
    }

    static func validate(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 200,
            !name.contains(where: {
                $0 == "{" || $0 == "}" || $0.isNewline || ($0.asciiValue.map { $0 < 0x20 } ?? false)
            })
        else { throw RedisLockError.invalidName(name) }
    }
}
