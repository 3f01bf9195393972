import RedisClient
import Testing

@Suite struct ListCommandTests {
    @Test func pushOrderAndRange() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "l"
            #expect(try await client.rpush(key, ["a", "b", "c"]) == 3)
            // LPUSH pushes in order, so the last value ends up first.
            #expect(try await client.lpush(key, ["x", "y"]) == 5)
            #expect(try await client.lrange(key) == ["y", "x", "a", "b", "c"])
            #expect(try await client.lrange(key, 1, 2) == ["x", "a"])
            #expect(try await client.lrange(key, -2, -1) == ["b", "c"])
            #expect(try await client.lrange(key, 10, 20) == [])
            #expect(try await client.llen(key) == 5)
            // Pushing nothing changes nothing and reports the current length.
            #expect(try await client.rpush(key, []) == 5)
            #expect(try await client.lpush(key, []) == 5)
            #expect(try await client.lpush(prefix + "missing", []) == 0)
            #expect(try await client.exists(prefix + "missing") == 0)
        }
    }

    @Test func popUntilEmpty() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "l"
            try await client.rpush(key, ["1", "2", "3"])
            #expect(try await client.lpop(key) == "1")
            #expect(try await client.rpop(key) == "3")
            #expect(try await client.llen(key) == 1)
            #expect(try await client.rpop(key) == "2")
            #expect(try await client.lpop(key) == nil)
            #expect(try await client.rpop(key) == nil)
            #expect(try await client.llen(key) == 0)
            #expect(try await client.lrange(key) == [])
            #expect(try await client.exists(key) == 0)
        }
    }

    @Test func emptyStringsAreKept() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.rpush(prefix + "l", ["", "a", ""])
            #expect(try await client.lrange(prefix + "l") == ["", "a", ""])
            #expect(try await client.lpop(prefix + "l") == "")
        }
    }
}
