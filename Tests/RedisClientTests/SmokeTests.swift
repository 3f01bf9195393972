import RedisClient
import Testing

@Suite struct SmokeTests {
    @Test func setAndGet() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.set(prefix + "a", to: "hello")
            #expect(try await client.get(prefix + "a") == "hello")
            #expect(try await client.delete(prefix + "a") == 1)
            #expect(try await client.get(prefix + "a") == nil)
        }
    }
}
