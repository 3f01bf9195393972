import Foundation
import NIOCore
import RedisClient
import Testing

@testable import RedisCache

@Suite("RedisCache: get, put, evict")
struct CacheBasicsTests {
    @Test("a miss loads and stores; the next read is a hit; evict makes the next read load again")
    func hitMissEvict() async throws {
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "items", of: String.self)
            let source = SourceOfTruth(["a": "apple"])
            #expect(try await cache.get("a") { try await source.read("a") } == "apple")
            #expect(source.readCount == 1)
            #expect(try await cache.get("a") { try await source.read("a") } == "apple")
            #expect(source.readCount == 1)

            source.write("a", "avocado")
            #expect(try await cache.get("a") { try await source.read("a") } == "apple")
            #expect(await cache.evict("a") == .evicted)
            #expect(try await cache.get("a") { try await source.read("a") } == "avocado")
            #expect(source.readCount == 2)

            let statistics = cache.statistics
            #expect(statistics.hits == 2)
            #expect(statistics.misses == 2)
            #expect(statistics.loads == 2)
            #expect(statistics.hitRatio == 0.5)
            #expect(statistics.errors == 0)
            #expect(managers[0].statistics.map(\.namespace) == ["items"])
        }
    }

    @Test("what is stored is the header and the JSON of the value, with the TTL (jittered) on the key")
    func storedForm() async throws {
        struct Item: Codable, Sendable, Equatable {
            var name: String
            var price: String
        }
        try await withManagers { managers in
            var options = RedisCacheOptions(ttl: .seconds(100))
            options.ttlJitter = 0.1
            let cache = try managers[0].cache(namespace: "items", of: Item.self, options: options)
            let item = Item(name: "Mug", price: "12.50")
            #expect(try await cache.get("mug") { item } == item)
            let client = managers[0].client
            let stored = try #require(try await client.get(cache.redisKey(for: "mug")))
            #expect(stored.hasPrefix("C1;"))
            let json = try #require(stored.split(separator: "\n", maxSplits: 1).last)
            #expect(try JSONDecoder().decode(Item.self, from: Data(json.utf8)) == item)
            guard case .expires(let ttl) = try await client.ttl(cache.redisKey(for: "mug")) else {
                Issue.record("the entry has no TTL")
                return
            }
            #expect(ttl > .seconds(85) && ttl <= .seconds(110))
            // No lease is left behind after a fill.
            #expect(try await client.exists(cache.redisKey(for: "mug") + ":lease") == 0)
        }
    }

    @Test("not found is cached for the negative TTL only, and not at all when it is nil")
    func negativeCaching() async throws {
        try await withManagers { managers in
            var options = RedisCacheOptions(ttl: .seconds(60))
            // Long enough that the three reads below fit in it on a loaded machine.
            options.negativeTTL = .seconds(3)
            options.ttlJitter = 0
            let cache = try managers[0].cache(namespace: "negative", of: String.self, options: options)
            let source = SourceOfTruth()
            #expect(try await cache.get("x") { try await source.read("x") } == nil)
            #expect(try await cache.get("x") { try await source.read("x") } == nil)
            #expect(source.readCount == 1)
            #expect(cache.statistics.hits == 1)
            source.write("x", "created")
            // Still the cached "not found" until the short TTL ends, then the new value.
            #expect(try await cache.get("x") { try await source.read("x") } == nil)
            #expect(
                await eventually {
                    (try? await cache.get("x") { try await source.read("x") }) == "created"
                }
            )

            options.negativeTTL = nil
            let uncachedMisses = try managers[0].cache(namespace: "no-negative", of: String.self, options: options)
            let empty = SourceOfTruth()
            #expect(try await uncachedMisses.get("y") { try await empty.read("y") } == nil)
            #expect(try await uncachedMisses.get("y") { try await empty.read("y") } == nil)
            #expect(empty.readCount == 2)
            #expect(try await managers[0].client.exists(uncachedMisses.redisKey(for: "y") + ":lease") == 0)
        }
    }

    @Test("put stores unconditionally; refresh reloads and stores whatever was cached")
    func putAndRefresh() async throws {
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "put", of: String.self)
            #expect(try await cache.put("k", "one"))
            #expect(try await cache.get("k") { "loaded" } == "one")
            let (value, stored) = try await cache.refresh("k") { "two" }
            #expect(value == "two" && stored)
            #expect(try await cache.get("k") { "loaded" } == "two")
            #expect(try await cache.put("gone", nil))
            #expect(try await cache.get("gone") { () -> String? in "loaded" } == nil)

            var options = RedisCacheOptions()
            options.negativeTTL = nil
            let noNegative = try managers[0].cache(namespace: "put-no-negative", of: String.self, options: options)
            #expect(try await noNegative.put("k", "one"))
            #expect(try await noNegative.put("k", nil))
            #expect(try await noNegative.get("k") { () -> String? in "loaded" } == "loaded")
        }
    }

    @Test("loader errors are thrown, nothing is cached, and the lease is given back at once")
    func loaderErrors() async throws {
        struct DatabaseDown: Error {}
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "errors", of: String.self)
            await #expect(throws: DatabaseDown.self) {
                try await cache.get("k") { () async throws -> String? in throw DatabaseDown() }
            }
            #expect(try await managers[0].client.exists(cache.redisKey(for: "k") + ":lease") == 0)
            #expect(try await cache.get("k") { "fine" } == "fine")
            #expect(cache.statistics.loadFailures == 1)
        }
    }

    @Test("a non-optional loader gets the non-optional read")
    func nonOptional() async throws {
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "pages", of: [Int].self)
            let page: [Int] = try await cache.get("page:1") { [1, 2, 3] }
            #expect(page == [1, 2, 3])
            let again: [Int] = try await cache.get("page:1") { [] }
            #expect(again == [1, 2, 3])
        }
    }

    @Test("a codec of your own, and an entry that does not decode is a miss that gets replaced")
    func codecs() async throws {
        struct Reversed: CacheCodec {
            func encode(_ value: String, into buffer: inout ByteBuffer) throws {
                buffer.writeString(String(value.reversed()))
            }
            func decode(from buffer: ByteBuffer) throws -> String { String(String(buffer: buffer).reversed()) }
        }
        try await withManagers { managers in
            let cache = try managers[0].cache(namespace: "codec", codec: Reversed())
            #expect(try await cache.get("k") { "abc" } == "abc")
            #expect(try await managers[0].client.get(cache.redisKey(for: "k"))?.hasSuffix("\ncba") == true)
            #expect(try await cache.get("k") { "other" } == "abc")

            let json = try managers[0].cache(namespace: "broken", of: [Int].self)
            try await managers[0].client.set(json.redisKey(for: "k"), to: "not an entry")
            #expect(try await json.get("k") { [1] } == [1])
            #expect(json.statistics.errors == 1)
            #expect(try await json.get("k") { [2] } == [1])
        }
    }

    @Test("bad namespaces, prefixes and options are refused with invalidConfiguration")
    func configuration() async throws {
        try await withManagers(running: false) { managers in
            #expect(throws: RedisCacheError.self) { try managers[0].cache(namespace: "a:b", of: String.self) }
            var options = RedisCacheOptions()
            options.ttlJitter = 0.9
            #expect(throws: RedisCacheError.self) {
                try managers[0].cache(namespace: "ok", of: String.self, options: options)
            }
            var configuration = RedisCacheConfiguration()
            configuration.keyPrefix = "{app}:"
            #expect(throws: RedisCacheError.self) {
                try RedisCacheManager(client: managers[0].client, configuration: configuration)
            }
        }
    }
}
