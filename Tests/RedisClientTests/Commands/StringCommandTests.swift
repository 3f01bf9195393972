import NIOCore
import RedisClient
import Testing

@Suite struct StringCommandTests {
    @Test func getAndSetStrings() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            #expect(try await client.get(prefix + "missing") == nil)
            #expect(try await client.set(prefix + "a", to: "hello"))
            #expect(try await client.get(prefix + "a") == "hello")
            #expect(try await client.set(prefix + "a", to: "world"))
            #expect(try await client.get(prefix + "a") == "world")
            try await client.set(prefix + "unicode", to: "héllo ✓ 日本")
            #expect(try await client.get(prefix + "unicode") == "héllo ✓ 日本")
            try await client.set(prefix + "empty", to: "")
            #expect(try await client.get(prefix + "empty") == "")
            #expect(try await client.exists(prefix + "empty") == 1)
        }
    }

    @Test func getAsByteBufferAndInt() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let bytes: [UInt8] = [0, 255, 13, 10, 0x80, 36, 42]
            try await client.set(prefix + "binary", to: ByteBuffer(bytes: bytes))
            let buffer = try #require(try await client.get(prefix + "binary", as: ByteBuffer.self))
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(try await client.strlen(prefix + "binary") == bytes.count)

            try await client.set(prefix + "array", to: bytes)
            #expect(
                try await client.get(prefix + "array", as: ByteBuffer.self).map { Array($0.readableBytesView) } == bytes
            )

            try await client.set(prefix + "number", to: 42)
            #expect(try await client.get(prefix + "number", as: Int.self) == 42)
            #expect(try await client.get(prefix + "number") == "42")
            try await client.set(prefix + "negative", to: -9_000_000_000)
            #expect(try await client.get(prefix + "negative", as: Int.self) == -9_000_000_000)
            #expect(try await client.get(prefix + "missing", as: Int.self) == nil)
            #expect(try await client.get(prefix + "missing", as: ByteBuffer.self) == nil)

            try await client.set(prefix + "text", to: "not a number")
            let error = try await #require(throws: RedisError.self) {
                try await client.get(prefix + "text", as: Int.self)
            }
            #expect(error.code == .unexpectedReply)
        }
    }

    @Test func setWithExpiration() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let start = ContinuousClock.now
            #expect(try await client.set(prefix + "a", to: "v", expiration: .seconds(10)))
            try await expectExpiration(of: prefix + "a", on: client, setFor: .seconds(10), since: start)
            // Milliseconds are sent as PX, not rounded to seconds.
            let precise = ContinuousClock.now
            #expect(try await client.set(prefix + "ms", to: "v", expiration: .milliseconds(12_345)))
            try await expectExpiration(of: prefix + "ms", on: client, setFor: .milliseconds(12_345), since: precise)

            // Sub-millisecond parts round up: 1.5 ms becomes PX 2, never PX 1 or 0.
            try await client.set(prefix + "short", to: "v", expiration: .microseconds(1_500))
            let short = try await client.pttl(prefix + "short")
            #expect(short == -2 || (0...2).contains(short))

            try await client.set(prefix + "expiring", to: "v", expiration: .milliseconds(50))
            #expect(try await waitUntil { try await client.get(prefix + "expiring") == nil })

            try await client.set(prefix + "plain", to: "v")
            #expect(try await client.pttl(prefix + "plain") == -1)
        }
    }

    @Test func hugeExpirationsAreClampedNotTrapped() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            // `.seconds(Int64.max)` is past what fits in Int64 nanoseconds: it must not overflow while converting.
            #expect(try await client.set(prefix + "a", to: "v", expiration: .seconds(Int64.max)))
            #expect(try await client.pttl(prefix + "a") > 1_000_000_000_000)
            #expect(try await client.expire(prefix + "a", after: .seconds(Int64.max)))
            #expect(try await client.pttl(prefix + "a") > 1_000_000_000_000)
            #expect(try await client.set(prefix + "b", to: "v", expiration: .seconds(Int64.max) * 4))
            #expect(try await client.pttl(prefix + "b") > 1_000_000_000_000)

            // Blocking commands add the command timeout to the block time: that sum must not trap either.
            try await client.rpush(prefix + "list", ["x", "y"])
            #expect(try await client.blpop([prefix + "list"], timeout: .seconds(Int64.max))?.value == "x")
            let viaConnection = try await client.withConnection(routingKey: prefix) { connection in
                try await connection.blpop([prefix + "list"], timeout: .seconds(Int64.max))?.value
            }
            #expect(viaConnection == "y")
            try await client.xgroupCreate(prefix + "stream", group: "g", startID: "0")
            try await client.xadd(prefix + "stream", fields: [("f", "v")])
            let read = try await client.xreadgroup(
                group: "g",
                consumer: "c",
                streams: [(prefix + "stream", ">")],
                block: .seconds(Int64.max)
            )
            #expect(read[prefix + "stream"]?.count == 1)
        }
    }

    @Test func setConditions() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            // XX on an absent key: not written.
            #expect(try await client.set(prefix + "a", to: "1", condition: .ifExists) == false)
            #expect(try await client.exists(prefix + "a") == 0)
            // NX on an absent key: written.
            #expect(try await client.set(prefix + "a", to: "1", condition: .ifNotExists) == true)
            #expect(try await client.get(prefix + "a") == "1")
            // NX on a present key: not written, value unchanged.
            #expect(try await client.set(prefix + "a", to: "2", condition: .ifNotExists) == false)
            #expect(try await client.get(prefix + "a") == "1")
            // XX on a present key: written.
            #expect(try await client.set(prefix + "a", to: "3", condition: .ifExists) == true)
            #expect(try await client.get(prefix + "a") == "3")
            // NX with an expiration (the lock pattern): only the first caller wins, and the TTL is set.
            let start = ContinuousClock.now
            #expect(try await client.set(prefix + "lock", to: "t1", expiration: .seconds(60), condition: .ifNotExists))
            #expect(
                try await client.set(prefix + "lock", to: "t2", expiration: .seconds(60), condition: .ifNotExists)
                    == false
            )
            #expect(try await client.get(prefix + "lock") == "t1")
            try await expectExpiration(of: prefix + "lock", on: client, setFor: .seconds(60), since: start)
        }
    }

    @Test func keepTTL() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let start = ContinuousClock.now
            try await client.set(prefix + "a", to: "1", expiration: .seconds(100))
            #expect(try await client.set(prefix + "a", to: "2", keepTTL: true))
            #expect(try await client.get(prefix + "a") == "2")
            try await expectExpiration(of: prefix + "a", on: client, setFor: .seconds(100), since: start)
            // With XX as well (the session-update pattern).
            #expect(try await client.set(prefix + "a", to: "3", condition: .ifExists, keepTTL: true))
            try await expectExpiration(of: prefix + "a", on: client, setFor: .seconds(100), since: start)
            // An explicit expiration wins over keepTTL.
            let second = ContinuousClock.now
            try await client.set(prefix + "a", to: "4", expiration: .seconds(10), keepTTL: true)
            try await expectExpiration(of: prefix + "a", on: client, setFor: .seconds(10), since: second)
            // A plain SET clears the time to live.
            try await client.set(prefix + "a", to: "5")
            #expect(try await client.pttl(prefix + "a") == -1)
            #expect(try await client.get(prefix + "a") == "5")
        }
    }

    @Test func mgetAndMset() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.mset([(prefix + "a", "1"), (prefix + "b", "two"), (prefix + "c", "")])
            #expect(
                try await client.mget([prefix + "a", prefix + "missing", prefix + "b", prefix + "c"])
                    == ["1", nil, "two", ""]
            )
            #expect(try await client.mget([]) == [])
            try await client.mset([])
            try await client.mset([(prefix + "a", "one")])
            #expect(try await client.mget([prefix + "a"]) == ["one"])
        }
    }

    @Test func incrementAndDecrement() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            #expect(try await client.incr(prefix + "n") == 1)
            #expect(try await client.incr(prefix + "n") == 2)
            #expect(try await client.incr(prefix + "n", by: 10) == 12)
            #expect(try await client.incr(prefix + "n", by: -20) == -8)
            #expect(try await client.get(prefix + "n") == "-8")
            #expect(try await client.incr(prefix + "m", by: -5) == -5)

            try await client.set(prefix + "text", to: "abc")
            let error = try await #require(throws: RedisError.self) { try await client.incr(prefix + "text") }
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "ERR")
            #expect(try await client.get(prefix + "text") == "abc")
        }
    }

    @Test func getDel() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.set(prefix + "a", to: "value")
            #expect(try await client.getDel(prefix + "a") == "value")
            #expect(try await client.exists(prefix + "a") == 0)
            #expect(try await client.getDel(prefix + "a") == nil)
            #expect(try await client.getDel(prefix + "never") == nil)
        }
    }

    @Test func helpersWorkOnALeasedConnection() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let value = try await client.withConnection(routingKey: prefix) { connection in
                try await connection.set(prefix + "a", to: "leased", expiration: .seconds(30))
                #expect(try await connection.incr(prefix + "n", by: 3) == 3)
                return try await connection.get(prefix + "a")
            }
            #expect(value == "leased")
            #expect(try await client.get(prefix + "n", as: Int.self) == 3)
        }
    }
}

extension RedisCommands {
    /// `STRLEN key`, raw.
    fileprivate func strlen(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("STRLEN", key: key)).decode(as: Int.self)
    }
}
