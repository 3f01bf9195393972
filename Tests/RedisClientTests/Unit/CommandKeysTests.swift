import NIOCore
import Synchronization
import Testing

@testable import RedisClient

/// Hash slots, and the keys the typed helpers record for Redis Cluster routing. No server is needed: helpers run
/// against ``CommandRecorder``, which keeps the commands and answers every one with a canned reply.
@Suite struct CommandKeysTests {
    // MARK: HashSlot

    @Test func crc16MatchesTheClusterSpecificationCheckValue() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    @Test func slotsFromTheClusterSpecification() {
        #expect(HashSlot(key: "foo").rawValue == 12182)
        let user = HashSlot(key: "user1000")
        #expect(HashSlot(key: "{user1000}.following") == user)
        #expect(HashSlot(key: "{user1000}.followers") == user)
        // An empty tag does not count: the whole key is hashed.
        #expect(HashSlot(key: "foo{}{bar}").rawValue == HashSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF)
        // The tag ends at the first `}` after the first `{`.
        #expect(HashSlot(key: "foo{{bar}}zap") == HashSlot(key: "{bar"))
        #expect(HashSlot(key: "foo{{bar}}zap").rawValue == HashSlot.crc16(Array("{bar".utf8)) & 0x3FFF)
        // Only the first tag counts.
        #expect(HashSlot(key: "foo{bar}{zap}") == HashSlot(key: "bar"))
    }

    /// Expected slots as `CLUSTER KEYSLOT <key>` answers them. The shared redis-server on 127.0.0.1:6379 runs with
    /// cluster support disabled (`ERR This instance has cluster support disabled`), so the values were obtained
    /// from a throwaway `redis-server --port 7391 --cluster-enabled yes` (`redis-cli -p 7391 CLUSTER KEYSLOT <key>`)
    /// and cross-checked with a twenty-line Python CRC16-XMODEM; both gave the same numbers.
    @Test(arguments: [
        ("foo", 12182),
        ("bar", 5061),
        ("user1000", 3443),
        ("{user1000}.following", 3443),
        ("{user1000}.followers", 3443),
        ("user:1", 10778),
        ("cart:42", 15749),
        ("session:abc", 14788),
        ("foo{}{bar}", 8363),
        ("foo{{bar}}zap", 4015),
        ("{bar", 4015),
        ("foo{bar}{zap}", 5061),
        ("", 0),
        ("a", 15495),
        ("{}", 15257),
        ("café", 5735),
    ])
    func slotMatchesClusterKeyslot(key: String, expected: Int) {
        #expect(HashSlot(key: key) == HashSlot(rawValue: expected))
        #expect(HashSlot(keyBytes: ByteBuffer(string: key).readableBytesView) == HashSlot(rawValue: expected))
    }

    @Test func slotNumbersOutsideTheRangeAreRejected() {
        #expect(HashSlot(rawValue: 16383) != nil)
        #expect(HashSlot(rawValue: 16384) == nil)
        #expect(HashSlot(rawValue: -1) == nil)
    }

    // MARK: RedisCommand

    @Test func keyInitialisersEncodeLikeThePlainOnesAndRecordTheKey() {
        let pairs: [(RedisCommand, RedisCommand)] = [
            (RedisCommand("GET", key: "foo"), RedisCommand("GET", "foo")),
            (RedisCommand("INCRBY", key: "foo", 2), RedisCommand("INCRBY", "foo", 2)),
            (RedisCommand("SET", key: "foo", "v", "PX", 10), RedisCommand("SET", "foo", "v", "PX", 10)),
            (RedisCommand("XINFO", "GROUPS", key: "foo"), RedisCommand("XINFO", "GROUPS", "foo")),
            (
                RedisCommand("XGROUP", "CREATE", key: "foo", "g", "$", "MKSTREAM"),
                RedisCommand("XGROUP", "CREATE", "foo", "g", "$", "MKSTREAM")
            ),
        ]
        for (keyed, plain) in pairs {
            #expect(Self.bytes(keyed) == Self.bytes(plain), "\(keyed.name)")
            #expect(keyed.count == plain.count)
            #expect(keyed.slot == HashSlot(key: "foo"))
            #expect(!keyed.keysSpanSlots)
            #expect(plain.slot == nil)
        }
    }

    @Test func binaryKeysAndRecordedKeys() {
        var command = RedisCommand("GET")
        command.appendKey(ByteBuffer(string: "{user1000}.following"))
        #expect(command.slot == HashSlot(key: "user1000"))
        command.recordKey("{user1000}.followers")
        #expect(!command.keysSpanSlots)
        #expect(command.count == 2)
        command.recordKey("foo")
        #expect(command.keysSpanSlots)
        #expect(command.slot == HashSlot(key: "user1000"))
    }

    // MARK: Typed helpers

    /// Every single-key helper records its key's slot, and no other.
    @Test(arguments: KeyedHelper.singleKey)
    func singleKeyHelperRecordsItsKey(helper: KeyedHelper) async throws {
        let commands = await CommandRecorder.commands { try await helper.run($0) }
        #expect(!commands.isEmpty)
        for command in commands {
            #expect(command.slot == HashSlot(key: KeyedHelper.key), "\(command.name)")
            #expect(!command.keysSpanSlots, "\(command.name)")
        }
    }

    /// Server-wide helpers record nothing, so a cluster client may send them anywhere.
    @Test(arguments: KeyedHelper.keyless)
    func keylessHelperRecordsNothing(helper: KeyedHelper) async throws {
        let commands = await CommandRecorder.commands { try await helper.run($0) }
        #expect(!commands.isEmpty)
        for command in commands {
            #expect(command.slot == nil, "\(command.name)")
            #expect(!command.keysSpanSlots, "\(command.name)")
        }
    }

    /// Multi-key helpers record every key: with a shared hash tag they stay in one slot, otherwise they span slots.
    @Test(arguments: KeyedHelper.multiKey)
    func multiKeyHelperRecordsEveryKey(helper: KeyedHelper) async throws {
        let together = await CommandRecorder.commands { try await helper.runWithKeys($0, KeyedHelper.taggedKeys) }
        #expect(together.count == 1)
        #expect(together.first?.slot == HashSlot(key: "user1000"))
        #expect(together.first?.keysSpanSlots == false)

        let apart = await CommandRecorder.commands { try await helper.runWithKeys($0, KeyedHelper.untaggedKeys) }
        #expect(apart.count == 1)
        #expect(apart.first?.slot == HashSlot(key: KeyedHelper.untaggedKeys[0]))
        #expect(apart.first?.keysSpanSlots == true)
    }

    /// The helpers send the same bytes as before keys were recorded.
    @Test func helpersKeepTheirArguments() async throws {
        let commands = await CommandRecorder.commands { redis in
            _ = try? await redis.mset([(key: "a", value: "1"), (key: "b", value: "2")])
            _ = try? await redis.xgroupCreate("s", group: "g")
            _ = try? await redis.xinfoGroups("s")
            _ = try? await redis.xreadgroup(group: "g", consumer: "c", streams: [("s1", ">"), ("s2", "0")], count: 5)
            _ = try? await redis.eval(RedisScript("return 1"), keys: ["k1", "k2"], arguments: ["x", 3])
        }
        let expected = [
            RedisCommand("MSET", "a", "1", "b", "2"),
            RedisCommand("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),
            RedisCommand("XINFO", "GROUPS", "s"),
            RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "STREAMS", "s1", "s2", ">", "0"),
            RedisCommand("EVALSHA", RedisScript("return 1").sha1, 2, "k1", "k2", "x", 3),
        ]
        #expect(commands.map(Self.bytes) == expected.map(Self.bytes))
        // MSET records its keys, not its values.
        #expect(commands[0].slot == HashSlot(key: "a"))
        #expect(commands[0].keysSpanSlots == (HashSlot(key: "a") != HashSlot(key: "b")))
        // XREADGROUP records the stream keys, not the ids.
        #expect(commands[3].slot == HashSlot(key: "s1"))
        #expect(commands[3].keysSpanSlots == (HashSlot(key: "s1") != HashSlot(key: "s2")))
        #expect(commands[4].slot == HashSlot(key: "k1"))
    }

    /// `EVAL` without keys records nothing: a cluster may run it on any node.
    @Test func evalWithoutKeysRecordsNothing() async throws {
        let commands = await CommandRecorder.commands { redis in
            _ = try? await redis.eval(RedisScript("return 1"))
        }
        #expect(commands.count == 1)
        #expect(commands.first?.slot == nil)
    }

    private static func bytes(_ command: RedisCommand) -> ByteBuffer {
        var buffer = ByteBuffer()
        command.write(into: &buffer)
        return buffer
    }
}

/// A ``RedisCommands`` that keeps every command and answers with a canned reply instead of reaching a server.
private final class CommandRecorder: RedisCommands {
    private let sent = Mutex<[RedisCommand]>([])
    private let reply: RESPValue

    init(reply: RESPValue = .null) {
        self.reply = reply
    }

    func send(_ command: RedisCommand) async throws -> RESPValue {
        self.sent.withLock { $0.append(command) }
        return self.reply
    }

    func sendBlocking(_ command: RedisCommand, blockingFor: Duration) async throws -> RESPValue {
        try await self.send(command)
    }

    /// The commands `body` sent. Errors are ignored: the canned reply does not always decode as the helper
    /// expects, and only the commands matter here.
    static func commands(of body: (any RedisCommands) async throws -> Void) async -> [RedisCommand] {
        let recorder = CommandRecorder()
        try? await body(recorder)
        return recorder.sent.withLock { $0 }
    }
}

/// A typed helper to call against ``CommandRecorder``.
struct KeyedHelper: Sendable, CustomTestStringConvertible {
    static let key = "{user1000}.following"
    static let taggedKeys = ["{user1000}.a", "{user1000}.b", "{user1000}.c"]
    /// Three keys in three different slots (12182, 5061 and 15495).
    static let untaggedKeys = ["foo", "bar", "a"]

    let testDescription: String
    private let body: @Sendable (any RedisCommands, [String]) async throws -> Void

    private init(_ name: String, _ body: @escaping @Sendable (any RedisCommands, [String]) async throws -> Void) {
        self.testDescription = name
        self.body = body
    }

    /// A helper that takes one key.
    private static func one(
        _ name: String,
        _ body: @escaping @Sendable (any RedisCommands, String) async throws -> Void
    ) -> Self {
        Self(name) { redis, keys in try await body(redis, keys[0]) }
    }

    /// A helper that takes several keys.
    private static func many(
        _ name: String,
        _ body: @escaping @Sendable (any RedisCommands, [String]) async throws -> Void
    ) -> Self {
        Self(name, body)
    }

    /// A helper that takes no key.
    private static func server(
        _ name: String,
        _ body: @escaping @Sendable (any RedisCommands) async throws -> Void
    ) -> Self {
        Self(name) { redis, _ in try await body(redis) }
    }

    func run(_ redis: any RedisCommands) async throws {
        try await self.body(redis, [Self.key])
    }

    func runWithKeys(_ redis: any RedisCommands, _ keys: [String]) async throws {
        try await self.body(redis, keys)
    }

    static let singleKey: [KeyedHelper] = [
        // Strings
        .one("get") { redis, key in _ = try await redis.get(key) },
        .one("get(as:)") { redis, key in _ = try await redis.get(key, as: Int.self) },
        .one("set") { redis, key in _ = try await redis.set(key, to: "v", expiration: .seconds(1)) },
        .one("incr") { redis, key in _ = try await redis.incr(key) },
        .one("getDel") { redis, key in _ = try await redis.getDel(key) },
        // Keys
        .one("expire") { redis, key in _ = try await redis.expire(key, after: .seconds(1)) },
        .one("persist") { redis, key in _ = try await redis.persist(key) },
        .one("ttl") { redis, key in _ = try await redis.ttl(key) },
        .one("type") { redis, key in _ = try await redis.type(of: key) },
        // Hashes
        .one("hset fields") { redis, key in _ = try await redis.hset(key, [(field: "f", value: "v")]) },
        .one("hset field") { redis, key in _ = try await redis.hset(key, field: "f", to: "v") },
        .one("hget") { redis, key in _ = try await redis.hget(key, field: "f") },
        .one("hmget") { redis, key in _ = try await redis.hmget(key, fields: ["f", "g"]) },
        .one("hgetall") { redis, key in _ = try await redis.hgetall(key) },
        .one("hdel") { redis, key in _ = try await redis.hdel(key, fields: ["f"]) },
        .one("hincr") { redis, key in _ = try await redis.hincr(key, field: "f") },
        .one("hlen") { redis, key in _ = try await redis.hlen(key) },
        // Lists
        .one("lpush") { redis, key in _ = try await redis.lpush(key, ["a", "b"]) },
        .one("rpush") { redis, key in _ = try await redis.rpush(key, ["a"]) },
        .one("rpush nothing") { redis, key in _ = try await redis.rpush(key, []) },
        .one("lpop") { redis, key in _ = try await redis.lpop(key) },
        .one("rpop") { redis, key in _ = try await redis.rpop(key) },
        .one("lrange") { redis, key in _ = try await redis.lrange(key) },
        .one("llen") { redis, key in _ = try await redis.llen(key) },
        // Sets
        .one("sadd") { redis, key in _ = try await redis.sadd(key, members: ["m"]) },
        .one("srem") { redis, key in _ = try await redis.srem(key, members: ["m"]) },
        .one("smembers") { redis, key in _ = try await redis.smembers(key) },
        .one("sismember") { redis, key in _ = try await redis.sismember(key, member: "m") },
        .one("scard") { redis, key in _ = try await redis.scard(key) },
        // Sorted sets
        .one("zadd") { redis, key in _ = try await redis.zadd(key, [(member: "m", score: 1)], condition: .ifNotExists)
        },
        .one("zscore") { redis, key in _ = try await redis.zscore(key, member: "m") },
        .one("zincr") { redis, key in _ = try await redis.zincr(key, member: "m") },
        .one("zrem") { redis, key in _ = try await redis.zrem(key, members: ["m"]) },
        .one("zcard") { redis, key in _ = try await redis.zcard(key) },
        .one("zrange") { redis, key in _ = try await redis.zrange(key, reverse: true) },
        .one("zrangeByScore") { redis, key in
            _ = try await redis.zrangeByScore(key, min: "-inf", max: "+inf", limit: (0, 10))
        },
        .one("zremRangeByScore") { redis, key in _ = try await redis.zremRangeByScore(key, min: "0", max: "1") },
        .one("zpopmin") { redis, key in _ = try await redis.zpopmin(key) },
        // Streams
        .one("xadd") { redis, key in _ = try await redis.xadd(key, fields: [(field: "f", value: "v")], maxLength: 10) },
        .one("xlen") { redis, key in _ = try await redis.xlen(key) },
        .one("xrange") { redis, key in _ = try await redis.xrange(key, count: 10) },
        .one("xdel") { redis, key in _ = try await redis.xdel(key, ids: ["1-0"]) },
        .one("xgroupCreate") { redis, key in _ = try await redis.xgroupCreate(key, group: "g") },
        .one("xreadgroup") { redis, key in
            _ = try await redis.xreadgroup(group: "g", consumer: "c", streams: [(key, ">")], block: .seconds(1))
        },
        .one("xack") { redis, key in _ = try await redis.xack(key, group: "g", ids: ["1-0"]) },
        .one("xautoclaim") { redis, key in
            _ = try await redis.xautoclaim(key, group: "g", consumer: "c", minIdle: .seconds(1))
        },
        .one("xpending") { redis, key in
            _ = try await redis.xpending(key, group: "g", consumer: "c", minIdle: .seconds(1))
        },
        .one("xpendingCount") { redis, key in _ = try await redis.xpendingCount(key, group: "g") },
        .one("xinfoGroups") { redis, key in _ = try await redis.xinfoGroups(key) },
        .one("xtrim") { redis, key in _ = try await redis.xtrim(key, maxLength: 10) },
        // Scripts
        .one("eval") { redis, key in _ = try await redis.eval(RedisScript("return 1"), keys: [key], arguments: ["a"]) },
    ]

    static let multiKey: [KeyedHelper] = [
        .many("delete(_: String...)") { redis, keys in _ = try await redis.delete(keys[0], keys[1], keys[2]) },
        .many("delete([String])") { redis, keys in _ = try await redis.delete(keys) },
        .many("unlink") { redis, keys in _ = try await redis.unlink(keys) },
        .many("exists") { redis, keys in _ = try await redis.exists(keys[0], keys[1], keys[2]) },
        .many("mget") { redis, keys in _ = try await redis.mget(keys) },
        .many("mset") { redis, keys in _ = try await redis.mset(keys.map { (key: $0, value: "v") }) },
        .many("blpop") { redis, keys in _ = try await redis.blpop(keys, timeout: .seconds(1)) },
        .many("xreadgroup") { redis, keys in
            _ = try await redis.xreadgroup(group: "g", consumer: "c", streams: keys.map { ($0, ">") })
        },
        .many("eval") { redis, keys in _ = try await redis.eval(RedisScript("return 1"), keys: keys) },
    ]

    static let keyless: [KeyedHelper] = [
        .server("ping") { redis in try await redis.ping() },
        .server("info") { redis in _ = try await redis.info("server") },
        .server("clientID") { redis in _ = try await redis.clientID() },
        .server("scan") { redis in _ = try await redis.scan(matching: "user:*", count: 10, type: "hash") },
        .server("scriptLoad") { redis in _ = try await redis.scriptLoad(RedisScript("return 1")) },
        .server("scriptExists") { redis in _ = try await redis.scriptExists([RedisScript("return 1")]) },
    ]
}
