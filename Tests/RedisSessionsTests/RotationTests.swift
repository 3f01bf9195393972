import Foundation
import RedisClient
import RedisSessions
import Testing

@Suite("Rotation never brings back an ended session")
struct RotationTests {
    let client = SessionClient(userAgent: "tests/1.0", address: "192.0.2.1")

    @Test("a session revoked after it was loaded is not recreated by rotate, under any id")
    func revokedBeforeRotation() async throws {
        try await TestRedis.withStore { store, redis in
            let created = try await store.create(Cart(items: [], role: "user"), userID: "u1", client: self.client)
            // What a request holds: the session as its middleware loaded it.
            let loaded = try #require(try await store.load(created.id))
            // Another device revokes it before the request rotates it.
            try await store.revoke(created)
            #expect(try await store.rotate(loaded, value: Cart(items: [], role: "admin")) == nil)
            let keys = try await TestRedis.keys(prefix: store.configuration.keyPrefix, client: redis)
            #expect(keys.filter { $0.contains("session:") }.isEmpty, "no session key: \(keys)")
            #expect(try await store.sessions(userID: "u1").isEmpty)
        }
    }

    @Test("a session whose key expired after it was loaded is not recreated by rotate")
    func expiredBeforeRotation() async throws {
        try await TestRedis.withStore { store, redis in
            let created = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            let loaded = try #require(try await store.load(created.id))
            // What an idle expiry does: the key disappears, unannounced.
            let key = store.configuration.keyPrefix + "session:{\(created.id.storageHash)}"
            #expect(try await redis.delete([key]) == 1)
            #expect(try await store.rotate(loaded) == nil)
            let keys = try await TestRedis.keys(prefix: store.configuration.keyPrefix, client: redis)
            #expect(keys.filter { $0.contains("session:") }.isEmpty, "no session key: \(keys)")
        }
    }
}
