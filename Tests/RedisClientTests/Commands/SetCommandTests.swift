import RedisClient
import Testing

@Suite struct SetCommandTests {
    @Test func addRemoveAndQuery() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "s"
            #expect(try await client.sadd(key, members: ["a", "b", "a"]) == 2)
            #expect(try await client.sadd(key, members: ["b", "c"]) == 1)
            #expect(try await client.sadd(key, members: []) == 0)
            #expect(Set(try await client.smembers(key)) == ["a", "b", "c"])
            #expect(try await client.smembers(key).count == 3)
            #expect(try await client.sismember(key, member: "a"))
            #expect(try await client.sismember(key, member: "z") == false)
            #expect(try await client.sismember(prefix + "missing", member: "a") == false)
            #expect(try await client.scard(key) == 3)

            #expect(try await client.srem(key, members: ["a", "z"]) == 1)
            #expect(try await client.srem(key, members: []) == 0)
            #expect(Set(try await client.smembers(key)) == ["b", "c"])
            #expect(try await client.scard(key) == 2)

            #expect(try await client.srem(key, members: ["b", "c"]) == 2)
            #expect(try await client.exists(key) == 0)
            #expect(try await client.smembers(prefix + "missing") == [])
            #expect(try await client.scard(prefix + "missing") == 0)
        }
    }

    @Test func manyMembers() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let members = (0..<1_000).map { "member-\($0)" }
            #expect(try await client.sadd(prefix + "s", members: members) == 1_000)
            #expect(Set(try await client.smembers(prefix + "s")) == Set(members))
        }
    }
}
