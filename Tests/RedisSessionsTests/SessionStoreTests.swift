import Foundation
import RedisClient
import RedisSessions
import Testing

@Suite("RedisSessionStore against Redis")
struct SessionStoreTests {
    let client = SessionClient(userAgent: "tests/1.0", address: "192.0.2.1")

    @Test("a created session loads from its id alone, with its value and metadata")
    func createAndLoad() async throws {
        try await TestRedis.withStore { store, _ in
            let session = try await store.create(Cart(items: ["mug"]), userID: "u1", client: self.client)
            let loaded = try #require(try await store.load(session.id))
            #expect(loaded.value == Cart(items: ["mug"]))
            #expect(loaded.userID == "u1")
            #expect(loaded.client == self.client)
            #expect(loaded.handle == session.handle)
            #expect(abs(loaded.createdAt.timeIntervalSince(session.createdAt)) < 0.001)
            #expect(abs(loaded.expiresAt.timeIntervalSince(session.createdAt) - 600) < 0.01)
            #expect(try await store.load(SessionID.random()) == nil)
        }
    }

    @Test("countSessions counts the live sessions of every user, on every primary, and nothing else")
    func countSessions() async throws {
        try await TestRedis.withStore { store, _ in
            #expect(try await store.countSessions() == 0)
            let first = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            _ = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            _ = try await store.create(Cart(items: []), userID: "u2", client: self.client)
            // The users' indexes are keys too, under the same prefix: not counted.
            #expect(try await store.countSessions() == 3)
            try await store.revoke(first)
            #expect(try await store.countSessions() == 2)
        }
    }

    @Test("Redis holds the SHA-256 of the id, never the id itself")
    func hashedKeys() async throws {
        try await TestRedis.withStore { store, redis in
            let session = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            let keys = try await TestRedis.keys(prefix: store.configuration.keyPrefix, client: redis)
            #expect(
                Set(keys) == [
                    store.configuration.keyPrefix + "session:{\(session.id.storageHash)}",
                    store.configuration.keyPrefix + "user:{u1}:sessions",
                ]
            )
            for key in keys {
                #expect(!key.contains(session.id.cookieValue))
                let dump = try await redis.send(RedisCommand("DUMP", key: key)).decode(as: String.self)
                #expect(!dump.contains(session.id.cookieValue))
            }
            let fields = try await redis.hgetall(keys.first { $0.contains("session:") }!)
            #expect(fields.values.allSatisfy { !$0.contains(session.id.cookieValue) })
        }
    }

    @Test("the Redis TTL is the idle timeout, and never past the absolute deadline")
    func ttlCapped() async throws {
        try await TestRedis.withStore(idle: .seconds(30), lifetime: .seconds(10)) { store, redis in
            let session = try await store.create(Cart(items: []), userID: nil, client: self.client)
            let key = store.configuration.keyPrefix + "session:{\(session.id.storageHash)}"
            let ttl = try await redis.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
            #expect(ttl > 9_000 && ttl <= 10_000)
            _ = try await store.load(session.id)
            let after = try await redis.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
            #expect(after > 0 && after <= 10_000)
        }
        try await TestRedis.withStore(idle: .seconds(5), lifetime: .seconds(100)) { store, redis in
            let session = try await store.create(Cart(items: []), userID: nil, client: self.client)
            let key = store.configuration.keyPrefix + "session:{\(session.id.storageHash)}"
            let ttl = try await redis.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
            #expect(ttl > 4_000 && ttl <= 5_000)
        }
    }

    @Test("a used session slides; an unused one expires after the idle timeout")
    func idleTimeout() async throws {
        try await TestRedis.withStore(idle: .milliseconds(1200), lifetime: .seconds(60)) { store, redis in
            // Redis stamped `used` after this instant: the first span starts here, not after the second create.
            var previousSent = ContinuousClock.now
            let used = try await store.create(Cart(items: ["a"]), userID: nil, client: self.client)
            let unused = try await store.create(Cart(items: ["b"]), userID: nil, client: self.client)
            let unusedCreated = ContinuousClock.now
            let unusedCreatedWall = Date()
            var lastUseAnswered = Date()
            // Ten uses 200 ms apart: 2 s in all, longer than the idle timeout, but never 1.2 s idle.
            // Redis saw the previous use after that use was sent, and sees this one before its answer arrives:
            // the idle time Redis measured is at most the span from the previous send to this answer. Only a span
            // past the idle timeout (this process or Redis stalled) may end the session.
            var loadedEveryTime = true
            for _ in 0..<10 {
                try await Task.sleep(for: .milliseconds(200))
                let sent = ContinuousClock.now
                let loaded = try await store.load(used.id) != nil
                lastUseAnswered = Date()
                let span = ContinuousClock.now - previousSent
                previousSent = sent
                guard loadedEveryTime else { break }
                loadedEveryTime = loaded
                if span < .milliseconds(1100) { #expect(loaded, "at most \(span) idle as Redis saw it") }
            }
            // Redis expires keys on its wall clock, so the idle time is judged on that clock: at least this much
            // wall-clock time has passed since Redis created the session. A step of this machine's clock (a time
            // sync) moves expiry with it; a run where the wall clock fell behind this process's steady clock checks
            // nothing it cannot see, and a failure reports both clocks and what Redis holds.
            let unusedKey = store.configuration.keyPrefix + "session:{\(unused.id.storageHash)}"
            let ttlBefore = try await redis.send(RedisCommand("PTTL", key: unusedKey)).decode(as: Int.self)
            let wallIdle = Date().timeIntervalSince(unusedCreatedWall)
            let steadyIdle = ContinuousClock.now - unusedCreated
            let stillLoads = try await store.load(unused.id) != nil
            let held = stillLoads ? try await Self.held(unusedKey, redis) : ""
            if wallIdle > 1.3 {
                #expect(
                    !stillLoads,
                    """
                    the unused session still loads \(wallIdle) s (wall clock; \(steadyIdle) steady) after it was \
                    created; PTTL before the load \(ttlBefore) ms, \(held)
                    """
                )
            }
            try await Task.sleep(for: .milliseconds(1600))
            if Date().timeIntervalSince(lastUseAnswered) > 1.3 {
                #expect(try await store.load(used.id) == nil)
            }
        }
    }

    /// A session's created and last-seen stamps and the clock of the node that holds it, for failure messages.
    static func held(_ key: String, _ redis: RedisClient) async throws -> String {
        let stamps = try await redis.send(RedisCommand("HMGET", key: key, "c", "s")).decode(as: [String?].self)
        var time = RedisCommand("TIME")
        time.recordKey(key)
        let seconds = try await redis.send(time).decode(as: [String].self)
        return "created/last seen \(stamps.map { $0 ?? "-" }), server TIME \(seconds.joined(separator: "."))"
    }

    @Test("the absolute lifetime ends a session however active it is")
    func absoluteLifetime() async throws {
        // Times are generous so that a loaded machine cannot make the first use late; the lifetime is what
        // matters: no use succeeds after it, however busy the session is.
        try await TestRedis.withStore(idle: .seconds(10), lifetime: .milliseconds(1500)) { store, _ in
            // The server stamps the session somewhere between these two instants.
            let beforeCreate = ContinuousClock.now
            let session = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            let start = ContinuousClock.now
            // A use well within the lifetime succeeds (unless this process was stalled for longer than the
            // lifetime, which a test cannot prevent; the assertions below hold regardless).
            let first = try await store.load(session.id) != nil
            if ContinuousClock.now - beforeCreate < .milliseconds(1000) { #expect(first) }
            var lastSuccess = Duration.zero
            var refusedAfterLifetime = false
            while ContinuousClock.now - start < .milliseconds(3000) {
                // Measured when the request leaves: a success was served at or after this instant.
                let sent = ContinuousClock.now - start
                let loaded = try await store.load(session.id) != nil
                if loaded {
                    lastSuccess = sent
                } else if sent > .milliseconds(1500) {
                    refusedAfterLifetime = true
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(refusedAfterLifetime)
            #expect(lastSuccess <= .milliseconds(1500))
            #expect(try await store.sessions(userID: "u1").isEmpty)
        }
    }

    @Test("the script checks the absolute deadline itself (clock moved past it) and deletes the session")
    func deadlineInScript() async throws {
        let clock = ManualClock()
        try await TestRedis.withStore(idle: .seconds(60), lifetime: .seconds(120), clock: clock) { store, redis in
            let session = try await store.create(Cart(items: []), userID: nil, client: self.client)
            clock.advance(by: 119)
            #expect(try await store.load(session.id) != nil)
            clock.advance(by: 1)
            #expect(try await store.load(session.id) == nil)
            let exists = try await redis.exists(store.configuration.keyPrefix + "session:{\(session.id.storageHash)}")
            #expect(exists == 0)
        }
    }

    @Test("last seen is rewritten at most once per touch interval")
    func touchThrottle() async throws {
        let clock = ManualClock()
        try await TestRedis.withStore(
            idle: .seconds(60),
            lifetime: .seconds(600),
            touch: .seconds(10),
            clock: clock
        ) {
            store,
            _ in
            let session = try await store.create(Cart(items: []), userID: nil, client: self.client)
            clock.advance(by: 9)
            let early = try #require(try await store.load(session.id))
            #expect(early.lastSeenAt == session.createdAt)
            clock.advance(by: 1)
            let later = try #require(try await store.load(session.id))
            #expect(abs(later.lastSeenAt.timeIntervalSince(session.createdAt) - 10) < 0.002)
        }
    }

    @Test("creating with `replacing` kills the previous id in the same round trip (fixation)")
    func replacing() async throws {
        try await TestRedis.withStore { store, _ in
            let anonymous = try await store.create(Cart(items: ["pre-login"]), userID: nil, client: self.client)
            let signedIn = try await store.create(
                Cart(items: []),
                userID: "u1",
                client: self.client,
                replacing: anonymous
            )
            #expect(signedIn.id != anonymous.id)
            #expect(try await store.load(anonymous.id) == nil)
            #expect(try await store.load(signedIn.id) != nil)
            // Replacing a user's session also takes it out of that user's index.
            let again = try await store.create(Cart(items: []), userID: "u1", client: self.client, replacing: signedIn)
            #expect(try await store.sessions(userID: "u1").map(\.handle) == [again.handle])
        }
    }

    @Test("rotation gives a new id, keeps the deadline, and the old id stops working")
    func rotate() async throws {
        try await TestRedis.withStore { store, _ in
            let session = try await store.create(Cart(items: [], role: "user"), userID: "u1", client: self.client)
            let rotated = try #require(try await store.rotate(session, value: Cart(items: [], role: "admin")))
            #expect(rotated.id != session.id)
            #expect(rotated.expiresAt == session.expiresAt)
            #expect(rotated.createdAt == session.createdAt)
            #expect(try await store.load(session.id) == nil)
            #expect(try await store.load(rotated.id)?.value.role == "admin")
            #expect(try await store.sessions(userID: "u1").map(\.handle) == [rotated.handle])
        }
    }

    @Test("update changes the value in place but never brings back a revoked session")
    func update() async throws {
        try await TestRedis.withStore { store, _ in
            let session = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            #expect(try await store.update(session, value: Cart(items: ["x"])))
            #expect(try await store.load(session.id)?.value == Cart(items: ["x"]))
            try await store.revoke(session)
            #expect(try await store.update(session, value: Cart(items: ["y"])) == false)
            #expect(try await store.load(session.id) == nil)
        }
    }

    @Test("revoking is immediate for every holder of the id, and leaves the index")
    func revoke() async throws {
        try await TestRedis.withStore { store, redis in
            let a = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            let b = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            try await store.revoke(a)
            #expect(try await store.load(a.id) == nil)
            try await store.revoke(id: b.id)
            #expect(try await store.load(b.id) == nil)
            let index = store.configuration.keyPrefix + "user:{u1}:sessions"
            #expect(try await redis.zcard(index) == 0)
        }
    }

    @Test("a handle revokes only within its owner's sessions")
    func revokeByHandle() async throws {
        try await TestRedis.withStore { store, _ in
            let mine = try await store.create(Cart(items: []), userID: "alice", client: self.client)
            let other = try await store.create(Cart(items: []), userID: "alice", client: self.client)
            let bobs = try await store.create(Cart(items: []), userID: "bob", client: self.client)
            #expect(try await store.revoke(handle: bobs.handle, userID: "alice") == false)
            #expect(try await store.load(bobs.id) != nil)
            #expect(try await store.revoke(handle: "not-a-handle", userID: "alice") == false)
            #expect(try await store.revoke(handle: other.handle, userID: "alice"))
            #expect(try await store.load(other.id) == nil)
            #expect(try await store.load(mine.id) != nil)
            #expect(try await store.revoke(handle: other.handle, userID: "alice") == false)
        }
    }

    @Test("revokeAll ends every other session of the user and no one else's")
    func revokeAll() async throws {
        try await TestRedis.withStore { store, _ in
            let current = try await store.create(Cart(items: []), userID: "alice", client: self.client)
            var others: [Session<Cart>] = []
            for _ in 0..<5 {
                others.append(try await store.create(Cart(items: []), userID: "alice", client: self.client))
            }
            let bobs = try await store.create(Cart(items: []), userID: "bob", client: self.client)
            #expect(try await store.revokeAll(userID: "alice", keeping: current.id) == 5)
            for session in others { #expect(try await store.load(session.id) == nil) }
            #expect(try await store.load(current.id) != nil)
            #expect(try await store.load(bobs.id) != nil)
            #expect(try await store.revokeAll(userID: "alice") == 1)
            #expect(try await store.load(current.id) == nil)
        }
    }

    @Test("listing skips sessions that ended and cleans them out of the index")
    func listing() async throws {
        try await TestRedis.withStore(idle: .seconds(3), lifetime: .seconds(60)) { store, redis in
            // The kept session's first idle span starts when its create is sent: under load, the second create
            // and the first listing can take seconds before the loop's first touch.
            var previousSent = ContinuousClock.now
            let kept = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            let idle = try await store.create(
                Cart(items: []),
                userID: "u1",
                client: SessionClient(userAgent: "other", address: "198.51.100.7")
            )
            let listed = try await store.sessions(userID: "u1")
            #expect(Set(listed.map(\.handle)) == [kept.handle, idle.handle])
            #expect(listed.first { $0.handle == idle.handle }?.client.address == "198.51.100.7")
            // Keep one alive (a touch every 300 ms: a gap of ten times that would be needed to lose it) while the
            // other goes idle.
            // The longest idle time Redis can have seen for the kept one is bounded by the span from one touch's
            // send to the next one's answer (see `idleTimeout`); only a span past the idle timeout may end it.
            let idleUntil = ContinuousClock.now + .milliseconds(3_600)
            var longestSpan = Duration.zero
            while ContinuousClock.now < idleUntil {
                try await Task.sleep(for: .milliseconds(300))
                let sent = ContinuousClock.now
                _ = try await store.load(kept.id)
                longestSpan = max(longestSpan, ContinuousClock.now - previousSent)
                previousSent = sent
            }
            let remaining = try await store.sessions(userID: "u1").map(\.handle)
            longestSpan = max(longestSpan, ContinuousClock.now - previousSent)
            // The idle one was last used before the loop began, over 3.6 s before the listing was sent: gone.
            #expect(!remaining.contains(idle.handle))
            guard longestSpan < .milliseconds(2_900) else { return }
            #expect(remaining == [kept.handle], "at most \(longestSpan) idle as Redis saw it")
            #expect(try await redis.zcard(store.configuration.keyPrefix + "user:{u1}:sessions") == 1)
        }
    }

    @Test("a session Redis cannot decode counts as missing and is removed")
    func corrupt() async throws {
        try await TestRedis.withStore { store, redis in
            let session = try await store.create(Cart(items: []), userID: nil, client: self.client)
            let key = store.configuration.keyPrefix + "session:{\(session.id.storageHash)}"
            _ = try await redis.hset(key, field: "v", to: "{not json")
            #expect(try await store.load(session.id) == nil)
            #expect(try await redis.exists(key) == 0)
        }
    }

    @Test("user ids that cannot be part of a key are refused")
    func badUserID() async throws {
        try await TestRedis.withStore { store, _ in
            for bad in ["", "a{b", "a}b", String(repeating: "x", count: 129)] {
                await #expect(throws: SessionStoreError.self) {
                    _ = try await store.create(Cart(items: []), userID: bad, client: self.client)
                }
            }
        }
    }

    @Test("after SCRIPT FLUSH (or a Redis restart) every operation still works")
    func scriptFlush() async throws {
        let server = try await PrivateRedisServer.start()
        do {
            try await self.exerciseAfterFlush(server)
            await server.stop()
        } catch {
            await server.stop()
            throw error
        }
    }

    private func exerciseAfterFlush(_ server: PrivateRedisServer) async throws {
        let configuration = try RedisConfiguration(url: server.url)
        try await TestRedis.withClient(prefix: "flush:", configuration: configuration) { redis in
            let store = try RedisSessionStore<Cart>(
                redis: redis,
                configuration: RedisSessionConfiguration(keyPrefix: "flush:"),
                logger: TestRedis.logger
            )
            let first = try await store.create(Cart(items: []), userID: "u1", client: self.client)
            _ = try await redis.send(RedisCommand("SCRIPT", "FLUSH"))
            let second = try await store.create(Cart(items: []), userID: "u1", client: self.client, replacing: first)
            _ = try await redis.send(RedisCommand("SCRIPT", "FLUSH"))
            #expect(try await store.load(second.id) != nil)
            _ = try await redis.send(RedisCommand("SCRIPT", "FLUSH"))
            #expect(try await store.sessions(userID: "u1").map(\.handle) == [second.handle])
            #expect(try await store.load(first.id) == nil)
        }
    }
}
