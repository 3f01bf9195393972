import RedisClient
import Testing

@testable import RedisCache

@Suite("RedisCache: early refresh and stale-while-revalidate")
struct RefreshTests {
    @Test("an entry past its TTL is served stale while one background refresh reloads it")
    func staleWhileRevalidate() async throws {
        try await withManagers { managers in
            var options = RedisCacheOptions(ttl: .milliseconds(300))
            options.ttlJitter = 0
            options.staleWhileRevalidate = .seconds(30)
            options.earlyRefreshBeta = 0
            let cache = try managers[0].cache(namespace: "stale", of: String.self, options: options)
            let source = SourceOfTruth(["k": "v1"])
            #expect(try await cache.get("k") { try await source.read("k") } == "v1")
            source.write("k", "v2")
            try await Task.sleep(for: .milliseconds(400))
            // Expired: the old value comes back at once and a refresh runs in the background.
            #expect(try await cache.get("k") { try await source.read("k") } == "v1")
            #expect(cache.statistics.staleServes == 1)
            #expect(await eventually { (try? await cache.get("k") { try await source.read("k") }) == "v2" })
            #expect(cache.statistics.misses == 1)
            #expect(cache.statistics.refreshes >= 1)
        }
    }

    @Test("without run() there is no background refresh: an expired entry is an ordinary miss")
    func staleWithoutRun() async throws {
        try await withManagers(running: false) { managers in
            var options = RedisCacheOptions(ttl: .milliseconds(200))
            options.ttlJitter = 0
            options.staleWhileRevalidate = .seconds(30)
            let cache = try managers[0].cache(namespace: "stale", of: String.self, options: options)
            let source = SourceOfTruth(["k": "v1"])
            #expect(try await cache.get("k") { try await source.read("k") } == "v1")
            source.write("k", "v2")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await cache.get("k") { try await source.read("k") } == "v2")
            #expect(cache.statistics.staleServes == 0)
            #expect(cache.statistics.misses == 2)
        }
    }

    @Test("probabilistic early refresh reloads a hot entry before it expires, without a miss")
    func earlyRefresh() async throws {
        try await withManagers { managers in
            var options = RedisCacheOptions(ttl: .seconds(60))
            // An enormous β makes every hit due for refresh, so the test does not depend on chance.
            options.earlyRefreshBeta = 1e9
            let cache = try managers[0].cache(namespace: "early", of: String.self, options: options)
            let source = SourceOfTruth(["k": "v1"])
            #expect(try await cache.get("k") { try await source.read("k") } == "v1")
            source.write("k", "v2")
            #expect(try await cache.get("k") { try await source.read("k") } == "v1")
            #expect(await eventually { (try? await cache.get("k") { try await source.read("k") }) == "v2" })
            #expect(cache.statistics.misses == 1)
            #expect(cache.statistics.refreshes >= 1)
        }
    }

    @Test("with the default β an entry far from expiry is not refreshed")
    func noEarlyRefreshFarFromExpiry() async throws {
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "calm", of: String.self)
            let source = SourceOfTruth(["k": "v1"])
            for _ in 0..<50 { _ = try await cache.get("k") { try await source.read("k") } }
            try await Task.sleep(for: .milliseconds(100))
            #expect(source.readCount == 1)
            #expect(cache.statistics.refreshes == 0)
        }
    }
}
