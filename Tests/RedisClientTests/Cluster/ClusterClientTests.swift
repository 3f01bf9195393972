import Foundation
import Logging
import Synchronization
import Testing

@testable import RedisClient

/// `RedisClient` on a real six-node Redis Cluster (`scripts/redis-cluster.sh`): routing by slot, pipelines across
/// nodes, refused cross-slot work, a live reshard and a primary killed under load.
@Suite("Redis Cluster client", .serialized, .timeLimit(.minutes(5)))
struct ClusterClientTests {
    static func client(_ url: String, commandTimeout: Duration = .seconds(10)) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = commandTimeout
        var logger = Logger(label: "redis-cluster-test")
        logger.logLevel = .critical
        return RedisClient(configuration: configuration, logger: logger)
    }

    @Test("every command goes straight to the node that owns its slot: values round-trip, no redirection needed")
    func routesByHashSlot() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let keys = (0..<300).map { "route:\($0)" }
            for key in keys { try await redis.set(key, to: "v-\(key)") }
            for key in keys { #expect(try await redis.get(key) == "v-\(key)") }
            // The keys really are spread over the three primaries, each on the owner the server names.
            var owners = Set<Int>()
            for key in keys.prefix(30) {
                let port = try await cluster.primaryPort(forKey: key)
                owners.insert(port)
                let onOwner = try await cluster.cli(port, ["GET", key]).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(onOwner == "v-\(key)")
            }
            #expect(owners.count == 3)
            #expect(redis.cluster?.redirections.load(ordering: .relaxed) == 0)
            // scanKeys visits every primary: all 300 keys, from three nodes.
            var scanned = Set<String>()
            try await redis.scanKeys(matching: "route:*", count: 50) { scanned.formUnion($0) }
            #expect(scanned == Set(keys))
        }
    }

    @Test("a pipeline over keys on every node returns the replies in the caller's order; errors stay in place")
    func pipelinesSplitByNode() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            var commands: [RedisCommand] = []
            for index in 0..<120 {
                var set = RedisCommand("SET")
                set.appendKey("pipe:\(index)")
                set.append("\(index)")
                commands.append(set)
            }
            var wrongType = RedisCommand("LPUSH")
            wrongType.appendKey("pipe:7")
            wrongType.append("x")
            commands.append(wrongType)
            for index in 0..<120 {
                var get = RedisCommand("GET")
                get.appendKey("pipe:\(index)")
                commands.append(get)
            }
            let results = try await redis.pipeline(commands)
            #expect(results.count == 241)
            for index in 0..<120 {
                #expect(try results[121 + index].get().decode(as: String.self) == "\(index)")
            }
            guard case .failure(let error) = results[120] else {
                Issue.record("LPUSH on a string should fail in place")
                return
            }
            #expect(error.serverErrorPrefix == "WRONGTYPE")
        }
    }

    @Test("keys in different slots: transactions, scripts and multi-key helpers are refused before anything is sent")
    func crossSlotWorkIsRefusedClearly() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            var setA = RedisCommand("SET")
            setA.appendKey("cross:a")
            setA.append("1")
            var setB = RedisCommand("SET")
            setB.appendKey("cross:b")
            setB.append("2")
            #expect(HashSlot(key: "cross:a") != HashSlot(key: "cross:b"))
            await #expect { try await redis.transaction([setA, setB]) } throws: { error in
                (error as? RedisError)?.code == .crossSlot
            }
            #expect(try await redis.get("cross:a") == nil)
            let script = RedisScript(
                "return redis.call('SET', KEYS[1], ARGV[1]) and redis.call('SET', KEYS[2], ARGV[1])"
            )
            await #expect { try await redis.eval(script, keys: ["cross:a", "cross:b"], arguments: ["x"]) } throws: {
                error in (error as? RedisError)?.code == .crossSlot
            }
            await #expect { _ = try await redis.delete(["cross:a", "cross:b"]) } throws: { error in
                (error as? RedisError)?.code == .crossSlot
            }
            // One hash tag: one slot, so all of it works.
            var tagA = RedisCommand("SET")
            tagA.appendKey("{cross}:a")
            tagA.append("1")
            var tagB = RedisCommand("INCR")
            tagB.appendKey("{cross}:b")
            let results = try await redis.transaction([tagA, tagB])
            #expect(try results[1].get() == .number(1))
            #expect(try await redis.eval(script, keys: ["{cross}:a", "{cross}:b"], arguments: ["y"]) != .null)
            #expect(try await redis.delete(["{cross}:a", "{cross}:b"]) == 2)
        }
    }

    @Test("a live reshard under traffic: MOVED and ASK are followed and no request fails")
    func liveReshardLosesNoRequest() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let keys = (0..<200).map { "reshard:\($0)" }
            for key in keys { try await redis.set(key, to: "0") }
            let source = try await cluster.primaryPort(forKey: keys[0])
            let target = cluster.ports.prefix(3).first { $0 != source } ?? cluster.basePort
            let traffic = Traffic()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var index = worker
                        while !traffic.stop.load(ordering: .relaxed) {
                            let key = keys[index % keys.count]
                            do {
                                var incr = RedisCommand("INCR")
                                incr.appendKey(key)
                                _ = try await redis.send(incr)
                                traffic.increments.add(1, ordering: .relaxed)
                            } catch {
                                traffic.failures.withLock { $0.append("\(key): \(error)") }
                            }
                            index += 8
                        }
                    }
                }
                group.addTask {
                    defer { traffic.stop.store(true, ordering: .relaxed) }
                    let ids = try await Self.nodeIDs(cluster)
                    guard let from = ids[source], let to = ids[target] else {
                        throw TestServerError("no node ids for \(source) and \(target)")
                    }
                    let output = try await RedisTestServer.run(
                        "redis-cli",
                        [
                            "--cluster", "reshard", "127.0.0.1:\(source)", "--cluster-from", from, "--cluster-to", to,
                            "--cluster-slots", "2000", "--cluster-yes", "--cluster-pipeline", "10",
                        ]
                    )
                    #expect(!output.contains("[ERR]"), "\(output.suffix(1000))")
                }
                try await group.waitForAll()
            }
            #expect(traffic.failures.withLock { $0 }.isEmpty, "\(traffic.failures.withLock { $0.prefix(5) })")
            // Every increment that was acknowledged is in the values (none lost, none applied twice).
            var total = 0
            for key in keys { total += Int(try await redis.get(key) ?? "0") ?? 0 }
            #expect(total == traffic.increments.load(ordering: .relaxed))
            #expect(redis.cluster!.redirections.load(ordering: .relaxed) > 0, "the reshard moved slots under traffic")
        }
    }

    @Test("a primary killed under load: its replica takes over and the client follows it")
    func followsAFailover() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url, commandTimeout: .seconds(15))
            defer { Task { await redis.shutdown() } }
            let key = "failover:counter"
            try await redis.set(key, to: "0")
            let victim = try await cluster.primaryPort(forKey: key)
            var acknowledged = 0
            for _ in 0..<50 {
                _ = try await redis.incr(key)
                acknowledged += 1
            }
            // Let the replica catch up with what was acknowledged, so a loss below is the failover's, not ours.
            _ = try await cluster.cli(victim, ["WAIT", "1", "2000"])
            try cluster.kill(victim)
            // Writes keep working once the replica is promoted (within each one's command timeout). A write that was
            // on the wire when the primary died fails with connectionClosed: it may or may not have run.
            var uncertain = 0
            for _ in 0..<50 {
                do {
                    _ = try await redis.incr(key)
                    acknowledged += 1
                } catch let error as RedisError where error.code == .connectionClosed {
                    uncertain += 1
                }
            }
            #expect(uncertain <= 1, "only what was in flight at the kill is uncertain")
            let survivor = try await cluster.primaryPort(
                forKey: key,
                askingNode: cluster.ports.first { $0 != victim }!
            )
            #expect(survivor != victim)
            let final = Int(try await redis.get(key) ?? "") ?? -1
            #expect(
                final >= acknowledged && final <= acknowledged + uncertain,
                "\(final) vs \(acknowledged)+\(uncertain)"
            )
        }
    }

    @Test("pub/sub on a cluster: a subscription survives the death of the node it listens on")
    func subscriptionMovesToAnotherNode() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try Self.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let received = Traffic()
            let listener = Task {
                try await redis.subscribe(to: ["cluster-news"]) { messages in
                    for try await message in messages {
                        if case .message(let delivery) = message {
                            received.failures.withLock { $0.append(delivery.payloadString) }
                        }
                    }
                }
            }
            defer { listener.cancel() }
            // PUBLISH on any node reaches subscribers on every node (its count is of this node's only).
            let delivered = try await Self.eventually {
                _ = try await redis.publish("before", to: "cluster-news")
                return received.failures.withLock { $0.contains("before") }
            }
            #expect(delivered)
            // The subscriber listens on the first seed; kill it.
            try cluster.kill(cluster.basePort)
            let deliveredAfter = try await Self.eventually(for: .seconds(30)) {
                _ = try await redis.publish("after", to: "cluster-news")
                return received.failures.withLock { $0.contains("after") }
            }
            #expect(deliveredAfter)
        }
    }

    // MARK: Helpers

    /// What concurrent workers share: failures (or received messages), a stop flag and a count.
    final class Traffic: Sendable {
        let failures = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        let increments = Atomic<Int>(0)
    }

    static func nodeIDs(_ cluster: RedisClusterFixture) async throws -> [Int: String] {
        let nodes = try await cluster.cli(cluster.basePort, ["CLUSTER", "NODES"])
        var ids: [Int: String] = [:]
        for line in nodes.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let port = fields[1].split(separator: "@")[0].split(separator: ":").last,
                let number = Int(port)
            else { continue }
            ids[number] = String(fields[0])
        }
        return ids
    }

    /// Polls `condition` until it is true or `limit` passes; returns whether it became true.
    @discardableResult
    static func eventually(
        for limit: Duration = .seconds(10),
        _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
