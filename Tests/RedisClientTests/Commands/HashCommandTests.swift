import RedisClient
import Testing

@Suite struct HashCommandTests {
    @Test func setAndGetFields() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "h"
            #expect(try await client.hset(key, [("name", "Ada"), ("age", 36)]) == 2)
            // One updated, one added: only the new one counts.
            #expect(try await client.hset(key, [("name", "Ada Lovelace"), ("city", "London")]) == 1)
            #expect(try await client.hset(key, []) == 0)
            #expect(try await client.hset(key, field: "lang", to: "en") == true)
            #expect(try await client.hset(key, field: "lang", to: "fr") == false)

            #expect(try await client.hget(key, field: "name") == "Ada Lovelace")
            #expect(try await client.hget(key, field: "age") == "36")
            #expect(try await client.hget(key, field: "missing") == nil)
            #expect(try await client.hget(prefix + "missing", field: "name") == nil)
            #expect(try await client.hmget(key, fields: ["city", "missing", "lang"]) == ["London", nil, "fr"])
            #expect(try await client.hmget(key, fields: []) == [])
            #expect(
                try await client.hgetall(key) == ["name": "Ada Lovelace", "age": "36", "city": "London", "lang": "fr"]
            )
            #expect(try await client.hgetall(prefix + "missing") == [:])
            #expect(try await client.hlen(key) == 4)
            #expect(try await client.hlen(prefix + "missing") == 0)
        }
    }

    @Test func deleteAndIncrementFields() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "h"
            try await client.hset(key, [("a", "1"), ("b", "2"), ("c", "3")])
            #expect(try await client.hdel(key, fields: ["a", "missing", "b"]) == 2)
            #expect(try await client.hdel(key, fields: []) == 0)
            #expect(try await client.hgetall(key) == ["c": "3"])

            #expect(try await client.hincr(key, field: "c") == 4)
            #expect(try await client.hincr(key, field: "c", by: -10) == -6)
            #expect(try await client.hincr(key, field: "new", by: 5) == 5)
            #expect(try await client.hget(key, field: "c") == "-6")

            try await client.hset(key, field: "text", to: "x")
            let error = try await #require(throws: RedisError.self) { try await client.hincr(key, field: "text") }
            #expect(error.code == .server)

            #expect(try await client.hdel(key, fields: ["c", "new", "text"]) == 3)
            #expect(try await client.exists(key) == 0)
        }
    }

    @Test func wrongTypeIsAServerError() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.set(prefix + "s", to: "v")
            let error = try await #require(throws: RedisError.self) { try await client.hget(prefix + "s", field: "f") }
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "WRONGTYPE")
        }
    }
}
