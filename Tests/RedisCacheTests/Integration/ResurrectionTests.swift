import RedisClient
import Testing

@testable import RedisCache

/// The classic delete/set race of cache-aside, forced with a hook between "loaded from the database" and
/// "stored in Redis": a writer commits and evicts inside that window.
@Suite("RedisCache: no stale resurrection")
struct ResurrectionTests {
    /// A cache whose fills stop after the load until the test lets them go.
    static func pausedCache(
        _ manager: RedisCacheManager,
        options: RedisCacheOptions = RedisCacheOptions()
    ) throws -> (RedisCache<String, JSONCacheCodec<String>>, loaded: Gate, proceed: Gate) {
        var cache = try manager.cache(namespace: "race", of: String.self, options: options)
        let loaded = Gate()
        let proceed = Gate()
        cache.hooks.afterLoad = { _ in
            loaded.open()
            await proceed.wait()
        }
        return (cache, loaded, proceed)
    }

    @Test("without a concurrent write, the paused fill is stored (the hook itself changes nothing)")
    func control() async throws {
        try await withManagers { managers in
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0])
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            proceed.open()
            #expect(try await reader == "old")
            #expect(cache.statistics.fillsRejected == 0)
            #expect(try await managers[0].client.exists(cache.redisKey(for: "k")) == 1)
        }
    }

    @Test("a value loaded before a write is not stored after the write's eviction")
    func evictDuringFill() async throws {
        try await withManagers { managers in
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0])
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            // The writer: commit, then evict.
            source.write("k", "new")
            #expect(await cache.evict("k") == .evicted)
            proceed.open()
            // The reader's own request overlapped the write, so "old" is a fair answer for it...
            #expect(try await reader == "old")
            // ...but it must not have been stored.
            #expect(cache.statistics.fillsRejected == 1)
            #expect(try await managers[0].client.exists(cache.redisKey(for: "k")) == 0)
            #expect(try await cache.get("k") { try await source.read("k") } == "new")
        }
    }

    @Test("a read that starts after the write returned, and joins the stale flight, still gets the new value")
    func followerAfterWrite() async throws {
        try await withManagers { managers in
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0])
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            source.write("k", "new")
            await cache.evict("k")
            // Joins the flight that loaded "old" (same process, same key).
            async let later = cache.get("k") { try await source.read("k") }
            #expect(await eventually { cache.statistics.coalesced == 1 })
            proceed.open()
            #expect(try await reader == "old")
            #expect(try await later == "new")
            #expect(source.readCount == 2)
        }
    }

    @Test("another instance reading after the eviction fills the new value; the late stale fill is refused")
    func otherInstanceFillsFirst() async throws {
        try await withManagers(2) { managers in
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0])
            let other = try managers[1].cache(namespace: "race", of: String.self)
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            source.write("k", "new")
            await other.evict("k")
            #expect(try await other.get("k") { try await source.read("k") } == "new")
            proceed.open()
            #expect(try await reader == "old")
            #expect(cache.statistics.fillsRejected == 1)
            #expect(try await cache.get("k") { try await source.read("k") } == "new")
            #expect(try await other.get("k") { try await source.read("k") } == "new")
        }
    }

    @Test("a fill whose lease expired during a slow load is refused")
    func leaseExpired() async throws {
        try await withManagers { managers in
            var options = RedisCacheOptions()
            options.leaseTTL = .milliseconds(100)
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0], options: options)
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            let lease = cache.redisKey(for: "k") + ":lease"
            #expect(try await eventually { try await managers[0].client.exists(lease) == 0 })
            source.write("k", "new")
            proceed.open()
            #expect(try await reader == "old")
            #expect(cache.statistics.fillsRejected == 1)
            #expect(try await cache.get("k") { try await source.read("k") } == "new")
        }
    }

    @Test("a refresh that loaded before a write is refused too")
    func refreshRace() async throws {
        try await withManagers { managers in
            let (cache, loaded, proceed) = try Self.pausedCache(managers[0])
            let source = SourceOfTruth(["k": "old"])
            async let refreshed = cache.refresh("k") { try await source.read("k") }
            await loaded.wait()
            source.write("k", "new")
            await cache.evict("k")
            proceed.open()
            #expect(try await refreshed.stored == false)
            #expect(try await cache.get("k") { try await source.read("k") } == "new")
        }
    }
}
