import RedisClient
import Testing

@testable import RedisCache

@Suite("RedisCache: namespace eviction")
struct NamespaceTests {
    static func readAll(
        _ cache: RedisCache<String, JSONCacheCodec<String>>,
        count: Int,
        source: SourceOfTruth
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            // 64 reads at a time.
            for _ in 0..<64 where next < count {
                let key = "\(next)"
                next += 1
                group.addTask {
                    let value = try await cache.get(key) { try await source.read(key) }
                    #expect(value == "v\(key)")
                }
            }
            while try await group.next() != nil {
                guard next < count else { continue }
                let key = "\(next)"
                next += 1
                group.addTask {
                    let value = try await cache.get(key) { try await source.read(key) }
                    #expect(value == "v\(key)")
                }
            }
        }
    }

    @Test("evicting a namespace of 5,000 entries makes every one of them load again, in every instance")
    func evictThousands() async throws {
        try await withManagers(2) { managers in
            let count = 5000
            let source = SourceOfTruth(Dictionary(uniqueKeysWithValues: (0..<count).map { ("\($0)", "v\($0)") }))
            let cache = try managers[0].cache(namespace: "many", of: String.self)
            let otherInstance = try managers[1].cache(namespace: "many", of: String.self)
            let untouched = try managers[0].cache(namespace: "other", of: String.self)
            try await Self.readAll(cache, count: count, source: source)
            #expect(source.readCount == count)
            #expect(try await untouched.get("x") { "kept" } == "kept")
            // Cached now: reading again loads nothing.
            try await Self.readAll(otherInstance, count: count, source: source)
            #expect(source.readCount == count)

            #expect(await otherInstance.evictNamespace() == .evicted)
            try await Self.readAll(cache, count: count, source: source)
            #expect(source.readCount == 2 * count)
            #expect(try await untouched.get("x") { "reloaded" } == "kept")
        }
    }

    @Test("purging a namespace deletes its keys with SCAN + UNLINK and leaves other namespaces alone")
    func purge() async throws {
        try await withManagers { managers in
            let count = 3000
            let source = SourceOfTruth(Dictionary(uniqueKeysWithValues: (0..<count).map { ("\($0)", "v\($0)") }))
            let cache = try managers[0].cache(namespace: "purged", of: String.self)
            let other = try managers[0].cache(namespace: "kept", of: String.self)
            try await Self.readAll(cache, count: count, source: source)
            #expect(try await other.get("x") { "kept" } == "kept")
            let client = managers[0].client
            let pattern = RedisGlob.escaping(managers[0].configuration.keyPrefix) + "{purged:*"
            var before = 0
            try await client.scanKeys(matching: pattern) { before += $0.count }
            #expect(before == count)

            #expect(try await cache.purgeNamespace() == count)
            var after = 0
            try await client.scanKeys(matching: pattern) { after += $0.count }
            #expect(after == 0)
            #expect(try await other.get("x") { "reloaded" } == "kept")
            #expect(try await cache.get("1") { "reloaded" } == "reloaded")
        }
    }

    @Test("an entry filled with the epoch read before a namespace eviction is never served after it")
    func epochRace() async throws {
        try await withManagers { managers in
            var paused = try managers[0].cache(namespace: "epoch", of: String.self)
            let loaded = Gate()
            let proceed = Gate()
            paused.hooks.afterLoad = { _ in
                loaded.open()
                await proceed.wait()
            }
            let cache = paused
            let source = SourceOfTruth(["k": "old"])
            async let reader = cache.get("k") { try await source.read("k") }
            await loaded.wait()
            source.write("k", "new")
            await cache.evictNamespace()
            proceed.open()
            #expect(try await reader == "old")
            // Stored (the lease was still its own) but tagged with the old epoch, so it is not a hit.
            let plain = try managers[0].cache(namespace: "epoch", of: String.self)
            #expect(try await plain.get("k") { try await source.read("k") } == "new")
        }
    }
}
