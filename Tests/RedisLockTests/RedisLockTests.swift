import Foundation
import Logging
import RedisClient
import RedisLock
import Testing

/// Runs `body` with a lock manager whose release listener (`run()`) is active, on its own key prefix.
private func withLocks<T: Sendable>(
    lease: Duration = .seconds(5),
    renewInterval: Duration? = nil,
    fallbackPollInterval: Duration? = nil,
    _ body: @Sendable (RedisLocks, RedisClient) async throws -> T
) async throws -> T {
    var logger = Logger(label: "lock-test")
    logger.logLevel = .critical
    let client = RedisClient(configuration: try RedisLockTestSupport.configuration(), logger: logger)
    var configuration = RedisLockConfiguration()
    configuration.keyPrefix = "test:lock:\(UUID().uuidString.prefix(8)):"
    configuration.lease = lease
    configuration.wait = .seconds(5)
    configuration.renewInterval = renewInterval
    if let fallbackPollInterval { configuration.fallbackPollInterval = fallbackPollInterval }
    let locks = RedisLocks(client: client, configuration: configuration, logger: logger)
    let listener = Task { try await locks.run() }
    defer { listener.cancel() }
    // Wait until release notices flow (the listener subscribed), so tests exercise the notice path.
    for _ in 0..<200 {
        let subscribers = try await client.send(RedisCommand("PUBSUB", "NUMSUB", locks.channel)).decode(
            as: [RESPValue].self
        )
        if try subscribers[1].decode(as: Int.self) > 0 { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    do {
        let result = try await body(locks, client)
        listener.cancel()
        await client.shutdown()
        return result
    } catch {
        listener.cancel()
        await client.shutdown()
        throw error
    }
}

enum RedisLockTestSupport {
    static func configuration() throws -> RedisConfiguration {
        try RedisConfiguration(url: ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0")
    }
}

/// A resource protected by fencing: it remembers the highest token that wrote and refuses older ones.
private actor FencedResource {
    private(set) var highestToken: Int64 = 0
    private(set) var value = ""

    func write(_ newValue: String, token: Int64) -> Bool {
        guard token >= self.highestToken else { return false }
        self.highestToken = token
        self.value = newValue
        return true
    }
}

@Suite struct RedisLockTests {
    @Test func heldLocksListsEachHeldLockWithItsHolderLeaseAndFenceAndWaitingCountsItsWaiters() async throws {
        try await withLocks(lease: .seconds(60)) { locks, _ in
            #expect(try await locks.heldLocks().isEmpty)
            let first = try #require(try await locks.tryAcquire("report:a"))
            let second = try #require(try await locks.tryAcquire("report:b", lease: .seconds(30)))
            let listed = try await locks.heldLocks()
            try #require(listed.map(\.name) == ["report:a", "report:b"])
            #expect(listed.allSatisfy { $0.holder == locks.configuration.owner })
            #expect(listed[0].fencingToken == first.fencingToken && listed[1].fencingToken == second.fencingToken)
            #expect(listed[0].leaseRemainingMilliseconds.map { $0 > 0 && $0 <= 60_000 } == true)
            #expect(listed[1].leaseRemainingMilliseconds.map { $0 > 0 && $0 <= 30_000 } == true)
            // A waiter for a held lock is counted while it waits, and not after.
            #expect(locks.waitingCounts().isEmpty)
            let waiter = Task { try await locks.acquire("report:a", wait: .seconds(10)) }
            var counted = false
            for _ in 0..<200 where !counted {
                counted = locks.waitingCounts() == ["report:a": 1]
                if !counted { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(counted)
            try await first.release()
            let taken = try await waiter.value
            #expect(locks.waitingCounts().isEmpty)
            #expect(try await locks.heldLocks().map(\.fencingToken) == [taken.fencingToken, second.fencingToken])
            try await taken.release()
            try await second.release()
            #expect(try await locks.heldLocks().isEmpty)
        }
    }

    @Test func tryAcquireIsExclusiveAndReleaseFreesIt() async throws {
        try await withLocks { locks, _ in
            let first = try #require(try await locks.tryAcquire("job"))
            #expect(try await locks.tryAcquire("job") == nil)
            #expect(try await first.release())
            let second = try #require(try await locks.tryAcquire("job"))
            #expect(second.fencingToken == first.fencingToken + 1)
            #expect(second.token != first.token)
            #expect(try await second.release())
            // Releasing twice does nothing the second time.
            #expect(try await second.release() == false)
        }
    }

    @Test func anExpiredHolderCannotReleaseOrExtendTheNewHoldersLock() async throws {
        try await withLocks { locks, client in
            let old = try #require(try await locks.tryAcquire("stock:1", lease: .milliseconds(100)))
            try await Task.sleep(for: .milliseconds(250))
            let new = try #require(try await locks.tryAcquire("stock:1", lease: .seconds(5)))
            #expect(try await old.release() == false)
            await #expect(throws: RedisLockError.notHeld("stock:1")) { try await old.extend(by: .seconds(5)) }
            #expect(!old.isHeld)
            // The new holder still holds it, with its own token.
            #expect(try await client.get(locks.configuration.keyPrefix + "{stock:1}") == new.token)
            #expect(try await locks.tryAcquire("stock:1") == nil)
            #expect(try await new.release())
        }
    }

    @Test func aLeaseIsNotHeldOnceReleased() async throws {
        try await withLocks { locks, _ in
            let lease = try #require(try await locks.tryAcquire("released"))
            #expect(lease.isHeld)
            #expect(try await lease.release())
            #expect(!lease.isHeld)
            #expect(throws: RedisLockError.leaseLost("released")) { try lease.checkHeld() }
        }
    }

    @Test func aLeaseNobodyRenewsStopsBeingHeldByItself() async throws {
        // That it stops before the key can expire is shown with a server of the test's own in
        // WatchdogFaultTests, where nothing else can touch the key.
        try await withLocks { locks, _ in
            let lease = try #require(try await locks.tryAcquire("unrenewed", lease: .seconds(2)))
            #expect(lease.isHeld)
            // Nobody renews it: `isHeld` turns false by itself (a generous limit: "it did happen").
            var polls = 0
            while lease.isHeld && polls < 1000 {
                polls += 1
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(!lease.isHeld)
            #expect(throws: RedisLockError.leaseLost("unrenewed")) { try lease.checkHeld() }
            _ = try await lease.release()
        }
    }

    @Test func aStaleFencingTokenIsRejectedByTheResource() async throws {
        try await withLocks { locks, _ in
            let resource = FencedResource()
            let slow = try #require(try await locks.tryAcquire("resource", lease: .milliseconds(100)))
            // The slow holder stalls past its lease; a new holder takes over and writes.
            try await Task.sleep(for: .milliseconds(250))
            let fast = try #require(try await locks.tryAcquire("resource"))
            #expect(fast.fencingToken > slow.fencingToken)
            #expect(await resource.write("new", token: fast.fencingToken))
            // The stale holder wakes up and tries to write: rejected.
            #expect(await resource.write("stale", token: slow.fencingToken) == false)
            #expect(await resource.value == "new")
            try await fast.release()
        }
    }

    @Test func theWatchdogKeepsTheLockThroughABodyLongerThanTheLease() async throws {
        // Renewals every 100 ms keep a 2 s lease, valid for 2 s less its 222 ms safety margin: a stall of up to
        // ~1.6 s on a busy machine (the whole suite runs in parallel; a 400 ms margin was seen to run out in CI)
        // does not lose it, yet the body runs for twice the lease.
        try await withLocks(renewInterval: .milliseconds(100)) { locks, client in
            let key = locks.configuration.keyPrefix + "{long-job}"
            let outcome = try await locks.withLock("long-job", lease: .seconds(2)) { lease in
                var contended = 0
                for _ in 0..<10 {
                    try await Task.sleep(for: .milliseconds(400))
                    if try await locks.tryAcquire("long-job") == nil { contended += 1 }
                    try lease.checkHeld()
                }
                return (contended, lease.token)
            }
            // 4 s of work under a 2 s lease: held the whole time, released afterwards.
            #expect(outcome.0 == 10)
            #expect(try await client.get(key) == nil)
        }
    }

    @Test func aLeaseShorterThanTheConfiguredOneIsRenewedInTime() async throws {
        // The configured lease is 10 s, this lock's 2 s: renewals follow the 2 s (every 667 ms), not the 10 s
        // (every 3.3 s, after the key would have expired).
        try await withLocks(lease: .seconds(10)) { locks, _ in
            let steps = try await locks.withLock("short", lease: .seconds(2)) { lease in
                var steps = 0
                for _ in 0..<8 {
                    try await Task.sleep(for: .milliseconds(500))
                    try lease.checkHeld()
                    steps += 1
                }
                return steps
            }
            #expect(steps == 8)
        }
    }

    @Test func aLeaseTakenShorterThanTheWatchdogRenewsToIsRenewedBeforeItEnds() async throws {
        // Taken for 3 s, handed to a watchdog that renews to 60 s (every 20 s): the first renewal must come
        // within the 3 s, not after 20 s.
        try await withLocks(lease: .seconds(60)) { locks, client in
            let key = locks.configuration.keyPrefix + "{short-then-long}"
            let held = try #require(try await locks.tryAcquire("short-then-long", lease: .seconds(3)))
            let renewed = try await locks.withLease(held) { lease in
                // Polls (a generous limit) until the server shows the key renewed past the first lease.
                for _ in 0..<1000 {
                    let ttl = try await client.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
                    if ttl > 3_000 { return lease.isHeld }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
            #expect(renewed)
        }
    }

    @Test func losingTheLeaseCancelsTheBodyAndThrows() async throws {
        try await withLocks(renewInterval: .milliseconds(30)) { locks, client in
            let key = locks.configuration.keyPrefix + "{taken-over}"
            let bodyFinished = ManagedFlag()
            do {
                _ = try await locks.withLock("taken-over", lease: .seconds(2)) { _ in
                    // Someone removes the lock behind the holder's back (an operator, or an expiry during a stall).
                    _ = try await client.delete(key)
                    try await Task.sleep(for: .seconds(10))
                    bodyFinished.set()
                }
                Issue.record("withLock should throw when the lease is lost")
            } catch let error as RedisLockError {
                #expect(error.isLeaseLost)
            }
            #expect(!bodyFinished.isSet)
        }
    }

    @Test func aWaiterIsWokenByTheReleaseNoticeNotByPolling() async throws {
        // Polling would take 30 s and the lease 60 s: only the release notice can wake the waiter earlier.
        try await withLocks(fallbackPollInterval: .seconds(30)) { locks, _ in
            let holder = try #require(try await locks.tryAcquire("handoff", lease: .seconds(60)))
            let waiter = Task { () -> (RedisLockLease, ContinuousClock.Instant) in
                let lease = try await locks.acquire("handoff", wait: .seconds(20))
                return (lease, ContinuousClock.now)
            }
            try await Task.sleep(for: .milliseconds(200))
            let releasedAt = ContinuousClock.now
            #expect(try await holder.release())
            let (lease, acquiredAt) = try await waiter.value
            #expect(lease.fencingToken == holder.fencingToken + 1)
            #expect(acquiredAt - releasedAt < .seconds(10), "woken by the notice, long before any poll")
            try await lease.release()
        }
    }

    @Test func aDeadHoldersLockFreesAfterItsLease() async throws {
        try await withLocks { locks, _ in
            // A holder in another client that stops without releasing (its client shuts down mid-work).
            var logger = Logger(label: "dead-holder")
            logger.logLevel = .critical
            let deadClient = RedisClient(configuration: try RedisLockTestSupport.configuration(), logger: logger)
            var deadConfiguration = locks.configuration
            deadConfiguration.renewInterval = .milliseconds(100)
            let deadLocks = RedisLocks(client: deadClient, configuration: deadConfiguration, logger: logger)
            let (started, markStarted) = AsyncStream<Int64>.makeStream()
            let doomed = Task {
                try await deadLocks.withLock("orphan", lease: .milliseconds(400)) { lease in
                    markStarted.yield(lease.fencingToken)
                    try await Task.sleep(for: .seconds(30))
                }
            }
            var iterator = started.makeAsyncIterator()
            let deadFence = try #require(await iterator.next())
            await deadClient.shutdown()  // the "process" dies: no more renewals, no release

            let lease = try await locks.acquire("orphan", wait: .seconds(5))
            #expect(lease.fencingToken > deadFence)
            try await lease.release()
            doomed.cancel()
            _ = await doomed.result
        }
    }

    @Test func tryOnceModeSkipsWhenHeld() async throws {
        try await withLocks { locks, _ in
            let holder = try #require(try await locks.tryAcquire("nightly"))
            let skipped = try await locks.withLockIfAvailable("nightly") { _ in "ran" }
            #expect(skipped == nil)
            try await holder.release()
            let ran = try await locks.withLockIfAvailable("nightly") { _ in "ran" }
            #expect(ran == "ran")
        }
    }

    @Test func waitingTimesOut() async throws {
        try await withLocks { locks, _ in
            let holder = try #require(try await locks.tryAcquire("busy", lease: .seconds(10)))
            await #expect(throws: RedisLockError.timedOut("busy")) {
                _ = try await locks.acquire("busy", wait: .milliseconds(150))
            }
            try await holder.release()
        }
    }

    @Test func onlyOneOfManyContendersHoldsAtATime() async throws {
        try await withLocks { locks, client in
            let counter = locks.configuration.keyPrefix + "counter"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        for _ in 0..<5 {
                            // The wait only has to outlast the other 79 turns on a loaded machine: the lock
                            // is not fair, and this test is about exclusion, not about how long a turn takes.
                            try await locks.withLock("critical", wait: .seconds(180)) { _ in
                                // A read-modify-write that loses updates unless exclusive.
                                let value = try await client.get(counter, as: Int.self) ?? 0
                                try await Task.sleep(for: .milliseconds(2))
                                try await client.set(counter, to: value + 1)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.get(counter, as: Int.self) == 80)
            _ = try await client.delete(counter)
        }
    }

    @Test(arguments: ["", "a{b", "a}b", "line\nbreak", String(repeating: "x", count: 201)])
    func invalidNamesAreRejected(name: String) async throws {
        _ = try await withLocks { locks, _ in
            await #expect(throws: RedisLockError.self) { _ = try await locks.tryAcquire(name) }
        }
    }
}

private final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { self.lock.withLock { self.value = true } }
    var isSet: Bool { self.lock.withLock { self.value } }
}
