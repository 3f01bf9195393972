import Foundation
import NIOCore
import RedisClient
import RedisSessions
import Testing

/// Every way the store ends a session is announced on the revocation channel, after the deletion, by hash.
@Suite("Session revocation announcements")
struct RevocationAnnouncementTests {
    let client = SessionClient(userAgent: "tests/1.0", address: "192.0.2.1")

    @Test("revoke, revoke(id:), revoke(handle:), revokeAll, sign-in replacing and rotate each announce what ended")
    func everyEndIsAnnounced() async throws {
        let prefix = TestRedis.uniquePrefix()
        let channel = prefix + "revoked"
        try await TestRedis.withClient(prefix: prefix) { redis in
            let store = try RedisSessionStore<Cart>(
                redis: redis,
                configuration: RedisSessionConfiguration(keyPrefix: prefix, revocationChannel: channel),
                logger: TestRedis.logger
            )
            try await redis.subscribe(to: [channel]) { subscription in
                var events = subscription.makeAsyncIterator()
                func next() async throws -> [String] {
                    guard case .message(let message) = try await events.next() else { return [] }
                    return SessionRevocations.storageHashes(in: message.payload.readableBytesView)
                }
                let cart = Cart(items: [])
                let a = try await store.create(cart, userID: "u1", client: self.client)
                try await store.revoke(a)
                #expect(try await next() == [a.id.storageHash])

                let b = try await store.create(cart, userID: "u1", client: self.client)
                try await store.revoke(id: b.id)
                #expect(try await next() == [b.id.storageHash])

                let c = try await store.create(cart, userID: "u1", client: self.client)
                #expect(try await store.revoke(handle: c.handle, userID: "u1"))
                #expect(try await next() == [c.id.storageHash])

                let anonymous = try await store.create(cart, userID: nil, client: self.client)
                let signedIn = try await store.create(cart, userID: "u1", client: self.client, replacing: anonymous)
                #expect(try await next() == [anonymous.id.storageHash])

                let rotated = try #require(try await store.rotate(signedIn))
                #expect(try await next() == [signedIn.id.storageHash])

                let d = try await store.create(cart, userID: "u1", client: self.client)
                let e = try await store.create(cart, userID: "u1", client: self.client)
                #expect(try await store.revokeAll(userID: "u1", keeping: rotated.id) == 2)
                #expect(Set(try await next()) == [d.id.storageHash, e.id.storageHash])

                // A subscriber that hears of a session finds it gone.
                #expect(try await store.exists(rotated.id))
                #expect(try await store.exists(d.id) == false)
                // Expiry is not announced, and creating is not either: the next message is the last revoke.
                try await store.revoke(rotated)
                #expect(try await next() == [rotated.id.storageHash])
            }
        }
    }

    @Test("the message reader takes storage hashes and nothing else")
    func messageReader() {
        let hash = String(repeating: "ab", count: 32)
        let other = String(repeating: "0f", count: 32)
        #expect(SessionRevocations.storageHashes(in: Array("\(hash),\(other)".utf8)) == [hash, other])
        #expect(
            SessionRevocations.storageHashes(in: Array("\(hash)0,\(hash.uppercased()),x,,\(other)".utf8)) == [other]
        )
        #expect(SessionRevocations.storageHashes(in: [UInt8]()) == [])
        #expect(SessionRevocations.storageHashes(in: [0, 0xFF, UInt8(ascii: ",")]) == [])
    }
}
