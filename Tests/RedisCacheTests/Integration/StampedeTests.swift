import RedisClient
import Synchronization
import Testing

@testable import RedisCache

@Suite("RedisCache: stampede protection")
struct StampedeTests {
    /// 1,000 concurrent reads of one missing key, spread over `managers` (each with its own client).
    static func stampede(_ managers: [RedisCacheManager], source: SourceOfTruth) async throws -> [String?] {
        var options = RedisCacheOptions()
        // Long enough that no waiter gives up on a busy test machine: this test is about coordination.
        options.stampedeWait = .seconds(20)
        let caches = try managers.map { try $0.cache(namespace: "hot", of: String.self, options: options) }
        return try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<1000 {
                let cache = caches[index % caches.count]
                group.addTask { try await cache.get("item") { try await source.read("item") } }
            }
            var values: [String?] = []
            for try await value in group { values.append(value) }
            return values
        }
    }

    @Test("1,000 concurrent misses on one key from three clients cause exactly one load")
    func oneLoadAcrossClients() async throws {
        try await withManagers(3) { managers in
            // The load takes long enough that every read arrives while it runs.
            let source = SourceOfTruth(["item": "value"], delay: .milliseconds(500))
            let values = try await Self.stampede(managers, source: source)
            #expect(values.count == 1000)
            #expect(values.allSatisfy { $0 == "value" })
            let statistics = managers.flatMap(\.statistics)
            #expect(source.readCount == 1, "\(statistics)")
            #expect(statistics.reduce(0) { $0 + $1.loads } == 1)
            // Every read either joined a flight of its process or went to Redis; at most one miss per client.
            let coalesced = statistics.reduce(0) { $0 + $1.coalesced }
            let hits = statistics.reduce(0) { $0 + $1.hits }
            let misses = statistics.reduce(0) { $0 + $1.misses }
            #expect(coalesced + hits + misses == 1000)
            #expect((1...3).contains(misses))
            #expect(statistics.reduce(0) { $0 + $1.waits } == misses - 1)
        }
    }

    @Test("without announcements (run() not running), waiting callers poll and still share one load")
    func oneLoadByPolling() async throws {
        // 1,000 callers polling every 50 ms keep Redis busy: on a loaded machine one call could pass the usual
        // 2 s timeout and fail open into a second load, which is the design but not what this test is about.
        let patient: (inout RedisCacheConfiguration) -> Void = { $0.operationTimeout = .seconds(10) }
        try await withManagers(3, running: false, configure: patient) { managers in
            let source = SourceOfTruth(["item": "value"], delay: .milliseconds(300))
            let values = try await Self.stampede(managers, source: source)
            #expect(values.allSatisfy { $0 == "value" })
            #expect(source.readCount == 1)
        }
    }

    @Test("a waiter wakes on the announcement of the fill, not at its next poll")
    func wokenByAnnouncement() async throws {
        // A patient operation timeout too: a store that timed out on a loaded machine (the 2 s default here) sends
        // no announcement, and the waiter then loads for itself at its next poll (seen once on a cluster run).
        let slowPolling: (inout RedisCacheConfiguration) -> Void = {
            $0.pollInterval = .seconds(30)
            $0.operationTimeout = .seconds(10)
        }
        try await withManagers(2, configure: slowPolling) { managers in
            var options = RedisCacheOptions()
            options.stampedeWait = .seconds(60)
            let loader = try managers[0].cache(namespace: "wake", of: String.self, options: options)
            let waiter = try managers[1].cache(namespace: "wake", of: String.self, options: options)
            let gate = Gate()
            let source = SourceOfTruth(["k": "v"])
            async let first = loader.get("k") {
                await gate.wait()
                return try await source.read("k")
            }
            #expect(
                await eventually { (try? await managers[0].client.exists(loader.redisKey(for: "k") + ":lease")) == 1 }
            )
            async let second = waiter.get("k") { try await source.read("k") }
            #expect(await eventually { waiter.statistics.waits == 1 })
            let start = ContinuousClock.now
            gate.open()
            #expect(try await first == "v")
            #expect(try await second == "v")
            // With a 30 s poll interval, only the announcement can have woken it this early.
            #expect(start.duration(to: .now) < .seconds(25))
            #expect(source.readCount == 1)
        }
    }

    @Test("a lease whose holder died: waiters load themselves after the stampede wait, without storing")
    func deadLeaseHolder() async throws {
        try await withManagers { managers in
            var options = RedisCacheOptions()
            options.stampedeWait = .milliseconds(200)
            let cache = try managers[0].cache(namespace: "dead", of: String.self, options: options)
            let client = managers[0].client
            let lease = cache.redisKey(for: "k") + ":lease"
            // Long enough to outlast the first get on a loaded machine (a full parallel run once took over 1.5 s).
            try await client.set(lease, to: "someone-who-crashed", expiration: .seconds(5))
            let source = SourceOfTruth(["k": "v"])
            #expect(try await cache.get("k") { try await source.read("k") } == "v")
            #expect(source.readCount == 1)
            #expect(cache.statistics.waits == 1)
            // Not stored: the lease is someone else's.
            #expect(try await client.exists(cache.redisKey(for: "k")) == 0)
            // Once the dead lease expires, the next miss takes the lease and fills.
            #expect(try await eventually { try await client.exists(lease) == 0 })
            #expect(try await cache.get("k") { try await source.read("k") } == "v")
            #expect(try await client.exists(cache.redisKey(for: "k")) == 1)
        }
    }
}
