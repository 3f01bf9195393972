import Foundation
import Logging
import RedisClient
import Testing

@testable import RedisLock

/// The watchdog against a redis-server of the test's own that stalls, dies, or answers late.
///
/// Each test reads the lock key's absolute expiry from the server itself (`PEXPIRETIME`, Unix milliseconds on
/// the machine's clock) while nothing can change it any more, and the body of `withLock` notes the time it was
/// cancelled. "Loss was declared before the key expired" is then an ordering of two instants on one clock, not
/// a measured duration.
@Suite struct WatchdogFaultTests {
    /// How the link to Redis fails.
    enum Fault: String, CaseIterable, CustomTestStringConvertible {
        /// SIGSTOP: connections stay open, commands hang until their timeout.
        case serverStalled
        /// SIGKILL: connections drop, reconnecting is refused, commands fail at once.
        case serverKilled

        var testDescription: String { self.rawValue }
    }

    @Test(arguments: Fault.allCases)
    func theBodyIsToldTheLeaseIsLostBeforeTheKeyCanExpire(_ fault: Fault) async throws {
        try await withFaultyRedis { server, _, locks, observer in
            let key = locks.key("job")
            let (started, markStarted) = AsyncStream<Void>.makeStream()
            let seen = CancellationSeen()
            let work = Task {
                try await locks.withLock("job") { lease in
                    markStarted.yield()
                    try await seen.sleepUntilCancelled(lease)
                }
            }
            var iterator = started.makeAsyncIterator()
            await iterator.next()
            // Wait until a renewal has run, so the expiry to beat is a renewal's rather than the acquisition's.
            let acquiredExpiry = try await expiry(of: key, on: observer)
            _ = try await nextExpiry(of: key, after: acquiredExpiry, on: observer)
            // Renewals run every 200 ms; a load that delays the fault would let more of them in after the expiry
            // was read. Pausing writes first fixes the expiry the fault leaves behind: a renewal sent from now on
            // waits as it would on a stalled server.
            let finalExpiry = try await pauseWrites(andReadExpiryOf: key, on: observer)
            switch fault {
            case .serverStalled: server.stall()
            case .serverKilled: await server.kill()
            }

            let result = try #require(await outcome(of: work), "withLock did not end")
            #expect(isLeaseLost(result))
            let cancelledAt = try #require(seen.cancelledAt, "the body was not cancelled")
            #expect(seen.leaseWasHeld == false)
            // The key expires at `finalExpiry`; the loss must be declared before that.
            #expect(cancelledAt < finalExpiry, "loss declared \(cancelledAt - finalExpiry) ms after expiry")
        }
    }

    @Test func aLeaseTakenBeforeTheBodyStartsIsValidFromItsAcquisition() async throws {
        try await withFaultyRedis { server, _, locks, observer in
            let held = try #require(try await locks.tryAcquire("job"))
            let acquiredExpiry = try await expiry(of: locks.key("job"), on: observer)
            await server.kill()
            // The body starts after the lock was taken, as in the scheduler (it claims its tick in between).
            let seen = CancellationSeen()
            let work = Task { try await locks.withLease(held) { lease in try await seen.sleepUntilCancelled(lease) } }

            let result = try #require(await outcome(of: work), "withLease did not end")
            #expect(isLeaseLost(result))
            let cancelledAt = try #require(seen.cancelledAt, "the body was not cancelled")
            #expect(cancelledAt < acquiredExpiry, "loss declared \(cancelledAt - acquiredExpiry) ms after expiry")
        }
    }

    @Test func aLeaseIsValidFromWhenItsRenewalWasSentNotFromWhenTheReplyCame() async throws {
        try await withFaultyRedis(throughRelay: true) { _, relay, locks, observer in
            let relay = try #require(relay)
            let key = locks.key("job")
            let (started, markStarted) = AsyncStream<Void>.makeStream()
            let seen = CancellationSeen()
            let work = Task {
                try await locks.withLock("job") { lease in
                    markStarted.yield()
                    try await seen.sleepUntilCancelled(lease)
                }
            }
            var iterator = started.makeAsyncIterator()
            await iterator.next()
            // One ordinary renewal first (it also loads the script, so the next one runs on the server at once).
            let acquiredExpiry = try await expiry(of: key, on: observer)
            let firstRenewal = try await nextExpiry(of: key, after: acquiredExpiry, on: observer)

            // The next renewal reaches the server and runs there; its reply is held back by more than the safety
            // margin, then delivered, and from then on the link is stalled. (The watchdog sends no renewal while
            // one is unanswered, so the held reply belongs to the last renewal the server runs.)
            relay.holdReplies()
            try #require(await eventually { relay.heldReplyBytes > 0 }, "no renewal reply was held")
            let heldRenewal = try await expiry(of: key, on: observer)
            #expect(heldRenewal > firstRenewal)
            try await Task.sleep(for: safetyMargin + .seconds(1))
            relay.deliverHeldRepliesThenStall()
            // Nothing can reach the server any more: this is when the key expires.
            let finalExpiry = try await expiry(of: key, on: observer)
            #expect(finalExpiry == heldRenewal, "a renewal ran after the held one")

            let result = try #require(await outcome(of: work), "withLock did not end")
            #expect(isLeaseLost(result))
            let cancelledAt = try #require(seen.cancelledAt, "the body was not cancelled")
            // Counting the renewal from its late reply would declare the loss after the key had expired.
            #expect(cancelledAt < finalExpiry, "loss declared \(cancelledAt - finalExpiry) ms after expiry")
        }
    }

    @Test func acquireEndsWhenRedisStallsWhileItWaits() async throws {
        try await withFaultyRedis { server, _, locks, _ in
            let holder = try #require(try await locks.tryAcquire("job", lease: .seconds(60)))
            let waiter = Task { try await locks.acquire("job", wait: .seconds(2)) }
            #expect(await eventually { locks.waiters.waitingCount("job") == 1 })
            server.stall()
            // The next attempt hangs on the stalled server until the client's command timeout ends it.
            let result = try #require(await outcome(of: waiter), "acquire did not end")
            guard case .failure(let error) = result else {
                Issue.record("acquire took a held lock")
                return
            }
            #expect((error as? RedisError)?.code == .commandTimeout, "\(error)")
            _ = holder
        }
    }
}

/// The lease, safety margin and renewal interval of these tests: loss must be declared 1.5 s before expiry.
private let lease = Duration.seconds(6)
private let safetyMargin = Duration.milliseconds(1500)

/// Runs `body` with a private redis-server, a lock manager whose client reaches it (through a relay if asked),
/// and an observer client that talks to the server directly.
private func withFaultyRedis(
    throughRelay: Bool = false,
    _ body: (FaultyRedisServer, RedisLinkRelay?, RedisLocks, RedisClient) async throws -> Void
) async throws {
    var logger = Logger(label: "lock-fault-test")
    logger.logLevel = .critical
    let server = try await FaultyRedisServer.start()
    var relay: RedisLinkRelay?
    if throughRelay { relay = try RedisLinkRelay.start(upstreamPort: server.port) }
    var clientConfiguration = try RedisConfiguration(url: relay?.url ?? server.url)
    clientConfiguration.commandTimeout = .seconds(4)
    clientConfiguration.connectTimeout = .seconds(1)
    let client = RedisClient(configuration: clientConfiguration, logger: logger)
    let observer = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: logger)
    var configuration = RedisLockConfiguration()
    configuration.keyPrefix = "test:lock:\(UUID().uuidString.prefix(8)):"
    configuration.lease = lease
    configuration.leaseSafetyMargin = safetyMargin
    configuration.renewInterval = .milliseconds(200)
    let locks = RedisLocks(client: client, configuration: configuration, logger: logger)
    let outcome: Result<Void, any Error>
    do {
        try await body(server, relay, locks, observer)
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    relay?.close()
    await server.destroy()
    await client.shutdown()
    await observer.shutdown()
    try outcome.get()
}

/// The key's absolute expiry in Unix milliseconds, as the server reports it (negative: no key or no expiry).
private func expiry(of key: String, on observer: RedisClient) async throws -> Int {
    try await observer.send(RedisCommand("PEXPIRETIME", key: key)).decode(as: Int.self)
}

/// Stops the server from running write commands and scripts (`CLIENT PAUSE ... WRITE`, reads still answered),
/// then reads the key's expiry: no renewal can move it after this.
private func pauseWrites(andReadExpiryOf key: String, on observer: RedisClient) async throws -> Int {
    _ = try await observer.send(RedisCommand("CLIENT", "PAUSE", "600000", "WRITE"))
    return try await expiry(of: key, on: observer)
}

/// Waits (a generous limit) until the key's expiry moves past `previous`: a renewal ran on the server.
private func nextExpiry(of key: String, after previous: Int, on observer: RedisClient) async throws -> Int {
    for _ in 0..<1000 {
        let current = try await expiry(of: key, on: observer)
        if current > previous { return current }
        try await Task.sleep(for: .milliseconds(5))
    }
    throw ServerFailure("no renewal reached the server")
}

/// The time on the machine's clock, in Unix milliseconds (the clock `PEXPIRETIME` answers in).
private func unixMilliseconds() -> Int {
    Int((Date().timeIntervalSince1970 * 1000).rounded(.up))
}

/// The result of `work`, or nil (and `work` cancelled) if it did not end within a generous limit.
private func outcome<T: Sendable>(of work: Task<T, any Error>) async -> Result<T, any Error>? {
    await withTaskGroup(of: Result<T, any Error>?.self) { group in
        group.addTask { await work.result }
        group.addTask {
            try? await Task.sleep(for: .seconds(60))
            return nil
        }
        let first = await group.next() ?? nil
        if case .none = first { work.cancel() }
        group.cancelAll()
        return first
    }
}

private func isLeaseLost<T>(_ result: Result<T, any Error>) -> Bool {
    guard case .failure(let error) = result else { return false }
    return (error as? RedisLockError)?.isLeaseLost == true
}

/// Polls `condition` until it holds, up to a generous limit.
private func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// What the body of `withLock` saw when it was cancelled.
private final class CancellationSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var at: Int?
    private var held: Bool?

    /// When the body was cancelled, in Unix milliseconds (rounded up: never earlier than it happened).
    var cancelledAt: Int? { self.lock.withLock { self.at } }
    /// Whether the lease still said it was held at that moment.
    var leaseWasHeld: Bool? { self.lock.withLock { self.held } }

    /// The body: waits until cancelled and notes when.
    func sleepUntilCancelled(_ lease: RedisLockLease) async throws {
        do {
            try await Task.sleep(for: .seconds(3600))
        } catch {
            let now = unixMilliseconds()
            let held = lease.isHeld
            self.lock.withLock {
                self.at = now
                self.held = held
            }
            throw error
        }
    }
}
