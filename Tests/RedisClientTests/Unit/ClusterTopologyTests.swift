import NIOCore
import Testing

@testable import RedisClient

/// The slot map parsed from `CLUSTER SHARDS` and `CLUSTER SLOTS` replies, and redirections from error replies.
@Suite("Cluster topology and redirections (no server)")
struct ClusterTopologyTests {
    static func text(_ value: String) -> RESPValue { .blobString(ByteBuffer(string: value)) }

    static func node(_ ip: String, _ port: Int, role: String, health: String = "online") -> RESPValue {
        .map([
            RESPMapEntry(key: text("id"), value: text("id-\(port)")),
            RESPMapEntry(key: text("port"), value: .number(Int64(port))),
            RESPMapEntry(key: text("ip"), value: text(ip)),
            RESPMapEntry(key: text("endpoint"), value: text(ip)),
            RESPMapEntry(key: text("role"), value: text(role)),
            RESPMapEntry(key: text("health"), value: text(health)),
        ])
    }

    static func shard(_ slots: [Int], _ nodes: [RESPValue]) -> RESPValue {
        .map([
            RESPMapEntry(key: text("slots"), value: .array(slots.map { .number(Int64($0)) })),
            RESPMapEntry(key: text("nodes"), value: .array(nodes)),
        ])
    }

    @Test func clusterShardsGivesEachSlotItsPrimary() throws {
        let reply = RESPValue.array([
            Self.shard(
                [0, 5460],
                [Self.node("10.0.0.1", 7000, role: "master"), Self.node("10.0.0.4", 7003, role: "replica")]
            ),
            Self.shard([5461, 10922], [Self.node("10.0.0.2", 7001, role: "master")]),
            Self.shard([10923, 12000, 12002, 16383], [Self.node("10.0.0.3", 7002, role: "master")]),
            // A failed primary's shard: its slots are left uncovered until the replica takes over.
            Self.shard([12001, 12001], [Self.node("10.0.0.9", 7009, role: "master", health: "failed")]),
        ])
        let topology = try ClusterTopology.parse(
            shardsReply: reply,
            tls: false,
            answeredBy: RedisEndpoint(host: "10.0.0.1", port: 7000)
        )
        #expect(topology.primary(for: HashSlot(rawValue: 0)!) == RedisEndpoint(host: "10.0.0.1", port: 7000))
        #expect(topology.replicas(for: HashSlot(rawValue: 5460)!) == [RedisEndpoint(host: "10.0.0.4", port: 7003)])
        #expect(topology.primary(for: HashSlot(rawValue: 5461)!) == RedisEndpoint(host: "10.0.0.2", port: 7001))
        #expect(topology.primary(for: HashSlot(rawValue: 16383)!) == RedisEndpoint(host: "10.0.0.3", port: 7002))
        #expect(topology.primary(for: HashSlot(rawValue: 12001)!) == nil)
        #expect(topology.coveredSlots == 16383)
        #expect(topology.primaries.count == 3)
    }

    @Test func clusterSlotsIsTheFallback() throws {
        let reply = RESPValue.array([
            .array([.number(0), .number(8191), .array([Self.text("127.0.0.1"), .number(7000), Self.text("a")])]),
            .array([
                .number(8192), .number(16383), .array([Self.text(""), .number(7001), Self.text("b")]),
                .array([Self.text("127.0.0.1"), .number(7004), Self.text("c")]),
            ]),
        ])
        let topology = try ClusterTopology.parse(slotsReply: reply, answeredBy: RedisEndpoint(host: "seed", port: 7001))
        #expect(topology.primary(for: HashSlot(rawValue: 100)!) == RedisEndpoint(host: "127.0.0.1", port: 7000))
        // An empty host means "the node that answered".
        #expect(topology.primary(for: HashSlot(rawValue: 9000)!) == RedisEndpoint(host: "seed", port: 7001))
        #expect(topology.replicas(for: HashSlot(rawValue: 9000)!) == [RedisEndpoint(host: "127.0.0.1", port: 7004)])
        #expect(topology.coveredSlots == HashSlot.count)
    }

    @Test func malformedRepliesAreErrorsNotTraps() {
        let bad: [RESPValue] = [
            .number(1), .array([.number(1)]), .array([.array([.number(0)])]),
            .array([Self.shard([0], [Self.node("h", 1, role: "master")])]),
        ]
        for reply in bad {
            #expect(throws: RedisError.self) {
                _ = try ClusterTopology.parse(
                    shardsReply: reply,
                    tls: false,
                    answeredBy: RedisEndpoint(host: "h", port: 1)
                )
            }
            #expect(throws: RedisError.self) {
                _ = try ClusterTopology.parse(slotsReply: reply, answeredBy: RedisEndpoint(host: "h", port: 1))
            }
        }
    }

    @Test func movedUpdatesOneSlot() throws {
        var topology = ClusterTopology(shards: [
            .init(primary: RedisEndpoint(host: "a", port: 1), replicas: [], slots: [0...16383])
        ])
        topology.move(HashSlot(rawValue: 42)!, to: RedisEndpoint(host: "b", port: 2))
        #expect(topology.primary(for: HashSlot(rawValue: 42)!) == RedisEndpoint(host: "b", port: 2))
        #expect(topology.primary(for: HashSlot(rawValue: 43)!) == RedisEndpoint(host: "a", port: 1))
    }

    @Test func redirectionsAreReadFromErrorReplies() {
        let here = RedisEndpoint(host: "10.0.0.1", port: 7000)
        func redirection(_ message: String) -> ClusterRedirection? {
            ClusterRedirection(RedisError(.server, message), answeredBy: here)
        }
        #expect(
            redirection("MOVED 3999 127.0.0.1:6381")
                == .moved(HashSlot(rawValue: 3999)!, RedisEndpoint(host: "127.0.0.1", port: 6381))
        )
        #expect(
            redirection("ASK 3999 10.0.0.2:7001")
                == .ask(HashSlot(rawValue: 3999)!, RedisEndpoint(host: "10.0.0.2", port: 7001))
        )
        #expect(
            redirection("MOVED 1 :7005") == .moved(HashSlot(rawValue: 1)!, RedisEndpoint(host: "10.0.0.1", port: 7005))
        )
        #expect(
            redirection("MOVED 1 ::1:7005") == .moved(HashSlot(rawValue: 1)!, RedisEndpoint(host: "::1", port: 7005))
        )
        #expect(redirection("TRYAGAIN Multiple keys request during rehashing of slot") == .retryLater)
        #expect(redirection("CLUSTERDOWN The cluster is down") == .retryLater)
        #expect(redirection("MOVED 99999 h:1") == nil)
        #expect(redirection("MOVED x h:1") == nil)
        #expect(redirection("MOVED 1 h:0") == nil)
        #expect(redirection("WRONGTYPE Operation against a key holding the wrong kind of value") == nil)
        #expect(ClusterRedirection(RedisError(.connectionClosed, "MOVED 1 h:1"), answeredBy: here) == nil)
    }

    @Test func onlyOnlineReplicasAreReadFrom() throws {
        let reply = RESPValue.array([
            Self.shard(
                [0, 16383],
                [
                    Self.node("10.0.0.4", 7004, role: "replica"),
                    Self.node("10.0.0.1", 7000, role: "master"),
                    Self.node("10.0.0.5", 7005, role: "replica", health: "loading"),
                    Self.node("10.0.0.6", 7006, role: "replica", health: "failed"),
                    Self.node("10.0.0.7", 7007, role: "replica"),
                ]
            )
        ])
        let topology = try ClusterTopology.parse(
            shardsReply: reply,
            tls: false,
            answeredBy: RedisEndpoint(host: "10.0.0.1", port: 7000)
        )
        #expect(topology.primary(for: HashSlot(rawValue: 42)!) == RedisEndpoint(host: "10.0.0.1", port: 7000))
        #expect(
            topology.replicas(for: HashSlot(rawValue: 42)!) == [
                RedisEndpoint(host: "10.0.0.4", port: 7004), RedisEndpoint(host: "10.0.0.7", port: 7007),
            ]
        )
        // A slot moved by MOVED belongs to a primary whose replicas are unknown: it is read from the primary.
        var moved = topology
        moved.move(HashSlot(rawValue: 42)!, to: RedisEndpoint(host: "10.0.0.9", port: 7009))
        #expect(moved.replicas(for: HashSlot(rawValue: 42)!).isEmpty)
    }

    @Test func clusterSlotsListsEveryReplicaOfARange() throws {
        let reply = RESPValue.array([
            .array([
                .number(0), .number(16383), .array([Self.text("127.0.0.1"), .number(7000), Self.text("a")]),
                .array([Self.text("127.0.0.1"), .number(7003), Self.text("b")]),
                .array([Self.text("?"), .number(7004), Self.text("c")]),
            ])
        ])
        let topology = try ClusterTopology.parse(slotsReply: reply, answeredBy: RedisEndpoint(host: "seed", port: 7000))
        #expect(
            topology.replicas(for: HashSlot(rawValue: 16383)!) == [
                RedisEndpoint(host: "127.0.0.1", port: 7003), RedisEndpoint(host: "seed", port: 7004),
            ]
        )
    }

    @Test func onlyAllowListedCommandsMayGoToReplicas() {
        for name in ["GET", "get", "MGET", "HGETALL", "EXISTS", "TTL", "ZRANGE", "XRANGE", "XINFO", "TYPE"] {
            #expect(RedisCommand(name, key: "k").isReadOnly, "\(name)")
        }
        for name in ["SET", "GETEX", "GETDEL", "INCR", "EVAL", "EVALSHA", "XREADGROUP", "BLPOP", "SORT", "DEL"] {
            #expect(!RedisCommand(name, key: "k").isReadOnly, "\(name)")
        }
    }

    @Test func replicaConnectionsSendReadOnlyAfterHello() throws {
        var configuration = RedisConfiguration(host: "10.0.0.1", port: 7000)
        configuration.clientName = "shop"
        let node = RedisEndpoint(host: "10.0.0.4", port: 7004)
        #expect(RedisConnection.handshakeCommands(configuration.forNode(node)).map(\.name) == ["HELLO"])
        let replica = configuration.forReplica(node)
        #expect(RedisConnection.handshakeCommands(replica).map(\.name) == ["HELLO", "READONLY"])
        // A replica that refuses READONLY would answer every read with MOVED: its connection is not used.
        let hello = RESPValue.map([])
        try RedisConnection.checkHandshake([hello, .simpleString(ByteBuffer(string: "OK"))], configuration: replica)
        #expect(throws: RedisError.self) {
            try RedisConnection.checkHandshake(
                [hello, .simpleError(ByteBuffer(string: "ERR This instance has cluster support disabled"))],
                configuration: replica
            )
        }
    }
}
