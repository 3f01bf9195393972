import RedisClient
import Testing

@Suite struct KeyCommandTests {
    @Test func deleteUnlinkAndExistsCount() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            for name in ["a", "b", "c", "d"] { try await client.set(prefix + name, to: name) }
            #expect(try await client.exists(prefix + "a", prefix + "b", prefix + "missing") == 2)
            // EXISTS counts a key once per mention.
            #expect(try await client.exists(prefix + "a", prefix + "a") == 2)
            #expect(try await client.exists() == 0)

            #expect(try await client.delete(prefix + "a", prefix + "b", prefix + "missing") == 2)
            #expect(try await client.exists(prefix + "a", prefix + "b") == 0)
            #expect(try await client.delete([prefix + "c"]) == 1)
            #expect(try await client.delete([String]()) == 0)
            #expect(try await client.delete(prefix + "c") == 0)

            #expect(try await client.unlink([prefix + "d", prefix + "missing"]) == 1)
            #expect(try await client.unlink([]) == 0)
            #expect(try await client.exists(prefix + "d") == 0)
        }
    }

    @Test func expirePersistAndTTL() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "a"
            #expect(try await client.ttl(key) == .missing)
            #expect(try await client.expire(key, after: .seconds(10)) == false)
            #expect(try await client.persist(key) == false)

            try await client.set(key, to: "v")
            #expect(try await client.ttl(key) == .noExpiry)
            #expect(try await client.persist(key) == false)

            let start = ContinuousClock.now
            #expect(try await client.expire(key, after: .seconds(100)))
            guard case .expires(let remaining) = try await client.ttl(key) else {
                Issue.record("expected an expiry")
                return
            }
            let elapsed = start.duration(to: .now)
            #expect(remaining <= .seconds(100))
            #expect(remaining >= .seconds(100) - elapsed - .milliseconds(2))
            try await expectExpiration(of: key, on: client, setFor: .seconds(100), since: start)

            #expect(try await client.persist(key))
            #expect(try await client.ttl(key) == .noExpiry)
            #expect(try await client.get(key) == "v")

            #expect(try await client.expire(key, after: .milliseconds(30)))
            #expect(try await waitUntil { try await client.ttl(key) == .missing })
            #expect(try await client.get(key) == nil)
        }
    }

    @Test func typeOfEachKind() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.set(prefix + "string", to: "v")
            try await client.rpush(prefix + "list", ["v"])
            try await client.sadd(prefix + "set", members: ["v"])
            try await client.zadd(prefix + "zset", [("v", 1)])
            try await client.hset(prefix + "hash", field: "f", to: "v")
            try await client.xadd(prefix + "stream", fields: [("f", "v")])
            #expect(try await client.type(of: prefix + "string") == "string")
            #expect(try await client.type(of: prefix + "list") == "list")
            #expect(try await client.type(of: prefix + "set") == "set")
            #expect(try await client.type(of: prefix + "zset") == "zset")
            #expect(try await client.type(of: prefix + "hash") == "hash")
            #expect(try await client.type(of: prefix + "stream") == "stream")
            #expect(try await client.type(of: prefix + "missing") == "none")
        }
    }

    @Test(
        .disabled(
            if: TestRedis.isCluster,
            "a SCAN cursor belongs to one node, so scan(cursor:) is refused on a cluster; ClusterClientTests covers scanKeys"
        )
    )
    func scanFindsExactlyThePrefixedKeys() async throws {
        let prefix = TestRedis.prefix("scan")
        try await TestRedis.withClient { client in
            let stringKeys = (0..<1_200).map { prefix + "s\($0)" }
            let hashKeys = (0..<30).map { prefix + "h\($0)" }
            for chunk in stride(from: 0, to: stringKeys.count, by: 200) {
                try await client.mset(stringKeys[chunk..<chunk + 200].map { (key: $0, value: "v") })
            }
            for key in hashKeys { try await client.hset(key, field: "f", to: "v") }
            let expected = Set(stringKeys + hashKeys)

            // Step by step with scan(cursor:).
            var found = Set<String>()
            var steps = 0
            var cursor = "0"
            repeat {
                let step = try await client.scan(cursor: cursor, matching: prefix + "*", count: 300)
                #expect(step.keys.allSatisfy { $0.hasPrefix(prefix) })
                found.formUnion(step.keys)
                cursor = step.cursor
                steps += 1
            } while cursor != "0"
            #expect(found == expected)
            #expect(steps > 1)

            // With a TYPE filter.
            var hashes = Set<String>()
            cursor = "0"
            repeat {
                let step = try await client.scan(cursor: cursor, matching: prefix + "*", count: 1_000, type: "hash")
                hashes.formUnion(step.keys)
                cursor = step.cursor
            } while cursor != "0"
            #expect(hashes == Set(hashKeys))

            // scanKeys: batch by batch, never an empty batch.
            var batches = 0
            var scanned = Set<String>()
            try await client.scanKeys(matching: prefix + "s*", count: 500) { batch in
                #expect(!batch.isEmpty)
                batches += 1
                scanned.formUnion(batch)
            }
            #expect(scanned == Set(stringKeys))
            #expect(batches > 1)

            // Nothing matches once everything is deleted.
            #expect(try await client.unlink(Array(expected)) == expected.count)
            var leftover: [String] = []
            try await client.scanKeys(matching: prefix + "*") { leftover += $0 }
            #expect(leftover.isEmpty)
        }
    }
}
