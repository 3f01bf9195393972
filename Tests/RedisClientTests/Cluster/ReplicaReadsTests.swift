import Foundation
import Logging
import Synchronization
import Testing

@testable import RedisClient

/// Reads from replicas on a real six-node Redis Cluster (`scripts/redis-cluster.sh`, ports 17000-18999 of this suite's
/// own): with ``RedisConfiguration/ReadFrom/replicaPreferred`` the allow-listed reads of every shard are served by its
/// replica, without it replicas serve none, writes always reach primaries, and a killed replica leaves its reads to
/// the primary. Everything is proven by counting (`INFO commandstats` on each node, the client's counters).
@Suite("Replica reads on Redis Cluster", .serialized, .timeLimit(.minutes(5)))
struct ReplicaReadsTests {
    static let ports = 17_000..<19_000

    static func client(_ url: String, readFrom: RedisConfiguration.ReadFrom) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(10)
        configuration.readFrom = readFrom
        var logger = Logger(label: "redis-replica-reads-test")
        logger.logLevel = .critical
        return RedisClient(configuration: configuration, logger: logger)
    }

    /// Each node's role: the primaries, and each replica with the port of its primary (`INFO replication`).
    static func roles(_ cluster: RedisClusterFixture) async throws -> (primaries: [Int], replicas: [Int: Int]) {
        var primaries: [Int] = []
        var replicas: [Int: Int] = [:]
        for port in cluster.ports {
            let info = try await Self.info(cluster, port, "replication")
            if info["role"] == "master" {
                primaries.append(port)
            } else if let primary = info["master_port"].flatMap({ Int($0) }) {
                replicas[port] = primary
            }
        }
        return (primaries, replicas)
    }

    /// `INFO section` as `field: value`.
    static func info(_ cluster: RedisClusterFixture, _ port: Int, _ section: String) async throws -> [String: String] {
        var fields: [String: String] = [:]
        for line in try await cluster.cli(port, ["INFO", section]).split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }

    /// How many times the node on `port` ran `command` (`cmdstat_<command>:calls=N,...`; 0 when never).
    static func calls(_ cluster: RedisClusterFixture, _ port: Int, _ command: String) async throws -> Int {
        guard let stats = try await Self.info(cluster, port, "commandstats")["cmdstat_\(command)"],
            let calls = stats.split(separator: ",").first(where: { $0.hasPrefix("calls=") })
        else { return 0 }
        return Int(calls.dropFirst("calls=".count)) ?? 0
    }

    static func calls(_ cluster: RedisClusterFixture, _ ports: [Int], _ command: String) async throws -> [Int: Int] {
        var result: [Int: Int] = [:]
        for port in ports { result[port] = try await Self.calls(cluster, port, command) }
        return result
    }

    /// Waits until every replica has applied everything its primary has written (replication offsets), at most
    /// 400 checks.
    static func awaitReplication(_ cluster: RedisClusterFixture, _ replicas: [Int: Int]) async throws {
        for _ in 0..<400 {
            var behind = false
            for (replica, primary) in replicas {
                let primaryInfo = try await Self.info(cluster, primary, "replication")
                let replicaInfo = try await Self.info(cluster, replica, "replication")
                let primaryOffset = primaryInfo["master_repl_offset"].flatMap { Int($0) }
                let replicaOffset = replicaInfo["slave_repl_offset"].flatMap { Int($0) }
                if let primaryOffset, let replicaOffset, replicaOffset >= primaryOffset { continue }
                behind = true
            }
            if !behind { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestServerError("the replicas did not catch up with their primaries")
    }

    @Test("opted in: reads of keys on every shard are served by the replicas (READONLY), writes by the primaries")
    func replicaPreferredReadsAreServedByReplicas() async throws {
        try await RedisClusterFixture.withRedisCluster(basePorts: Self.ports) { cluster in
            let redis = try Self.client(cluster.url, readFrom: .replicaPreferred)
            defer { Task { await redis.shutdown() } }
            let (primaries, replicas) = try await Self.roles(cluster)
            try #require(primaries.count == 3 && replicas.count == 3)
            let keys = (0..<300).map { "replica-read:\($0)" }
            let setsBefore = try await Self.calls(cluster, primaries, "set")
            for key in keys { try await redis.set(key, to: "v-\(key)") }
            // Every write reached a primary: the primaries ran all 300 SETs and nothing was redirected (a replica
            // answers a write with MOVED).
            let setsAfter = try await Self.calls(cluster, primaries, "set")
            #expect(primaries.map { setsAfter[$0]! - setsBefore[$0]! }.reduce(0, +) == keys.count)
            try await Self.awaitReplication(cluster, replicas)

            let replicaGetsBefore = try await Self.calls(cluster, Array(replicas.keys), "get")
            let primaryGetsBefore = try await Self.calls(cluster, primaries, "get")
            for key in keys { #expect(try await redis.get(key) == "v-\(key)") }
            let replicaGetsAfter = try await Self.calls(cluster, Array(replicas.keys), "get")
            let primaryGetsAfter = try await Self.calls(cluster, primaries, "get")

            // Each of the three replicas served reads, together all 300; the primaries served none.
            for replica in replicas.keys { #expect(replicaGetsAfter[replica]! > replicaGetsBefore[replica]!) }
            #expect(replicas.keys.map { replicaGetsAfter[$0]! - replicaGetsBefore[$0]! }.reduce(0, +) == keys.count)
            #expect(primaries.map { primaryGetsAfter[$0]! - primaryGetsBefore[$0]! }.reduce(0, +) == 0)
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == keys.count)
            #expect(redis.cluster?.replicaFallbacks.load(ordering: .relaxed) == 0)
            #expect(redis.cluster?.redirections.load(ordering: .relaxed) == 0)

            // Our connections to each replica are in READONLY mode (`r` among CLIENT LIST's flags).
            for replica in replicas.keys {
                let clients = try await cluster.cli(replica, ["CLIENT", "LIST"]).split(whereSeparator: \.isNewline)
                let readOnly = clients.filter { line in
                    line.split(separator: " ").contains { $0.hasPrefix("flags=") && $0.dropFirst(6).contains("r") }
                }
                #expect(!readOnly.isEmpty, "no READONLY connection on replica \(replica)")
            }

            // A read the caller wants from the primary (`send(_:readFrom: .primary)`) goes there despite the opt-in.
            let ownBefore = try await Self.calls(cluster, primaries, "get")
            for key in keys.prefix(30) {
                let reply = try await redis.send(RedisCommand("GET", key: key), readFrom: .primary)
                #expect(try reply.decode(as: String.self) == "v-\(key)")
            }
            let ownAfter = try await Self.calls(cluster, primaries, "get")
            #expect(primaries.map { ownAfter[$0]! - ownBefore[$0]! }.reduce(0, +) == 30)
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == keys.count)

            // A command not on the allow-list goes to the primary even when it only reads here (GETEX without
            // options): the primaries ran all 30.
            let getexBefore = try await Self.calls(cluster, primaries, "getex")
            for key in keys.prefix(30) {
                #expect(try await redis.send(RedisCommand("GETEX", key: key)).decode(as: String.self) == "v-\(key)")
            }
            let getexAfter = try await Self.calls(cluster, primaries, "getex")
            #expect(primaries.map { getexAfter[$0]! - getexBefore[$0]! }.reduce(0, +) == 30)

            // A pipeline's reads go to the primaries too.
            let pipelinedBefore = try await Self.calls(cluster, primaries, "get")
            let results = try await redis.pipeline(keys.prefix(40).map { RedisCommand("GET", key: $0) })
            for (key, result) in zip(keys.prefix(40), results) {
                #expect(try result.get().decode(as: String.self) == "v-\(key)")
            }
            let pipelinedAfter = try await Self.calls(cluster, primaries, "get")
            #expect(primaries.map { pipelinedAfter[$0]! - pipelinedBefore[$0]! }.reduce(0, +) == 40)
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == keys.count)
            #expect(redis.cluster?.redirections.load(ordering: .relaxed) == 0)
        }
    }

    @Test("not opted in (the default): replicas serve no reads, the primaries serve all, but a call may opt in")
    func withoutTheOptInReplicasServeNoReads() async throws {
        try await RedisClusterFixture.withRedisCluster(basePorts: Self.ports) { cluster in
            let redis = try Self.client(cluster.url, readFrom: .primary)
            defer { Task { await redis.shutdown() } }
            let (primaries, replicas) = try await Self.roles(cluster)
            try #require(primaries.count == 3 && replicas.count == 3)
            let keys = (0..<150).map { "primary-read:\($0)" }
            for key in keys { try await redis.set(key, to: "v-\(key)") }
            let replicaGetsBefore = try await Self.calls(cluster, Array(replicas.keys), "get")
            let primaryGetsBefore = try await Self.calls(cluster, primaries, "get")
            for key in keys { #expect(try await redis.get(key) == "v-\(key)") }
            let replicaGetsAfter = try await Self.calls(cluster, Array(replicas.keys), "get")
            let primaryGetsAfter = try await Self.calls(cluster, primaries, "get")
            #expect(replicas.keys.map { replicaGetsAfter[$0]! - replicaGetsBefore[$0]! }.reduce(0, +) == 0)
            #expect(primaries.map { primaryGetsAfter[$0]! - primaryGetsBefore[$0]! }.reduce(0, +) == keys.count)
            for primary in primaries { #expect(primaryGetsAfter[primary]! > primaryGetsBefore[primary]!) }
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == 0)

            // One call may opt in by itself (`send(_:readFrom: .replicaPreferred)`): the replicas serve those reads.
            try await Self.awaitReplication(cluster, replicas)
            let optedBefore = try await Self.calls(cluster, Array(replicas.keys), "get")
            for key in keys.prefix(60) {
                let reply = try await redis.send(RedisCommand("GET", key: key), readFrom: .replicaPreferred)
                #expect(try reply.decode(as: String.self) == "v-\(key)")
            }
            let optedAfter = try await Self.calls(cluster, Array(replicas.keys), "get")
            #expect(replicas.keys.map { optedAfter[$0]! - optedBefore[$0]! }.reduce(0, +) == 60)
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == 60)
        }
    }

    @Test("a replica killed with kill -9: every read still succeeds, its shard's reads fall back to the primary")
    func aKilledReplicaLeavesItsReadsToThePrimary() async throws {
        try await RedisClusterFixture.withRedisCluster(basePorts: Self.ports) { cluster in
            let redis = try Self.client(cluster.url, readFrom: .replicaPreferred)
            defer { Task { await redis.shutdown() } }
            let (primaries, replicas) = try await Self.roles(cluster)
            try #require(primaries.count == 3 && replicas.count == 3)
            let keys = (0..<90).map { "replica-kill:\($0)" }
            for key in keys { try await redis.set(key, to: "v-\(key)") }
            try await Self.awaitReplication(cluster, replicas)
            // Every replica has served reads, so the client holds a connection to each.
            for key in keys { #expect(try await redis.get(key) == "v-\(key)") }
            #expect(redis.cluster?.replicaReads.load(ordering: .relaxed) == keys.count)

            let (victim, victimPrimary) = replicas.min { $0.key < $1.key }!
            var onVictimShard = 0
            for key in keys where try await cluster.primaryPort(forKey: key) == victimPrimary { onVictimShard += 1 }
            try #require(onVictimShard > 0)
            try cluster.kill(victim)

            let primaryGetsBefore = try await Self.calls(cluster, primaries, "get")
            let otherReplicas = replicas.keys.filter { $0 != victim }
            let replicaGetsBefore = try await Self.calls(cluster, otherReplicas, "get")
            for key in keys { #expect(try await redis.get(key) == "v-\(key)") }
            let primaryGetsAfter = try await Self.calls(cluster, primaries, "get")
            let replicaGetsAfter = try await Self.calls(cluster, otherReplicas, "get")

            // The dead replica's shard was read from its primary, the others still from their replicas.
            #expect(primaryGetsAfter[victimPrimary]! - primaryGetsBefore[victimPrimary]! == onVictimShard)
            for primary in primaries where primary != victimPrimary {
                #expect(primaryGetsAfter[primary]! == primaryGetsBefore[primary]!)
            }
            #expect(
                otherReplicas.map { replicaGetsAfter[$0]! - replicaGetsBefore[$0]! }.reduce(0, +)
                    == keys.count - onVictimShard
            )
            // At least the first read after the kill tried the dead replica and fell back.
            #expect((redis.cluster?.replicaFallbacks.load(ordering: .relaxed) ?? 0) >= 1)
        }
    }
}
