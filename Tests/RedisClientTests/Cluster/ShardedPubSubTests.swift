import Foundation
import Logging
import Synchronization
import Testing

@testable import RedisClient

/// Sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`) on a real six-node Redis Cluster (`scripts/redis-cluster.sh`): delivery,
/// channels on every shard at once, a subscribed channel's slot migrated live, and its primary killed. Every check
/// counts messages; waits are bounded but never measured.
@Suite("Sharded pub/sub on Redis Cluster", .serialized, .timeLimit(.minutes(5)))
struct ShardedPubSubTests {
    /// What a listener received, by channel, and how many gaps it was told of.
    final class Inbox: Sendable {
        let messages = Mutex<[String: [String]]>([:])
        let gaps = Atomic<Int>(0)
        let ready = Atomic<Bool>(false)

        func count(_ channel: String) -> Int { self.messages.withLock { $0[channel]?.count ?? 0 } }
        func contains(_ payload: String, on channel: String) -> Bool {
            self.messages.withLock { $0[channel]?.contains(payload) ?? false }
        }
    }

    /// Subscribes to `channels` in a task that records everything into the inbox; returns once it is subscribed.
    static func listen(_ redis: RedisClient, to channels: [String]) async throws -> (Task<Void, any Error>, Inbox) {
        let inbox = Inbox()
        let task = Task {
            try await redis.ssubscribe(to: channels) { subscription in
                inbox.ready.store(true, ordering: .releasing)
                for try await event in subscription {
                    switch event {
                    case .message(let message):
                        inbox.messages.withLock { $0[message.channel, default: []].append(message.payloadString) }
                    case .gap:
                        inbox.gaps.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        let subscribed = try await ClusterClientTests.eventually { inbox.ready.load(ordering: .acquiring) }
        guard subscribed else {
            task.cancel()
            throw TestServerError("the sharded subscription did not start")
        }
        return (task, inbox)
    }

    /// Channel names whose slots are served by `count` different primaries, with the port of each one's owner.
    static func channelsOnDistinctPrimaries(
        _ cluster: RedisClusterFixture,
        count: Int
    ) async throws -> [(channel: String, port: Int)] {
        var found: [(channel: String, port: Int)] = []
        var index = 0
        while found.count < count {
            let channel = "shard-news:\(index)"
            let port = try await cluster.primaryPort(forKey: channel)
            if !found.contains(where: { $0.port == port }) { found.append((channel, port)) }
            index += 1
            if index > 500 { throw TestServerError("no channels on \(count) primaries") }
        }
        return found
    }

    /// `PUBSUB SHARDNUMSUB channel` on one node: how many connections there listen to the channel.
    static func shardSubscribers(_ cluster: RedisClusterFixture, port: Int, channel: String) async throws -> Int {
        let output = try await cluster.cli(port, ["PUBSUB", "SHARDNUMSUB", channel])
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.count >= 2 ? Int(lines[1]) ?? -1 : -1
    }

    /// Publishes `payload` until the listener has it (the subscription may be moving), then `count` numbered
    /// messages; returns how many of those arrived once the last one did or the wait ran out.
    static func publishAfterTheMove(
        _ redis: RedisClient,
        _ inbox: Inbox,
        channel: String,
        marker: String,
        count: Int
    ) async throws -> Int {
        let moved = try await ClusterClientTests.eventually(for: .seconds(45)) {
            _ = try await redis.spublish(marker, to: channel)
            return inbox.contains(marker, on: channel)
        }
        guard moved else { return 0 }
        for number in 0..<count { _ = try await redis.spublish("\(marker)-\(number)", to: channel) }
        _ = try await ClusterClientTests.eventually(for: .seconds(10)) {
            inbox.contains("\(marker)-\(count - 1)", on: channel)
        }
        return inbox.messages.withLock { messages in
            (0..<count).filter { messages[channel]?.contains("\(marker)-\($0)") ?? false }.count
        }
    }

    @Test("SPUBLISH reaches an SSUBSCRIBE subscriber, one connection listening on the slot's primary")
    func spublishedMessagesArrive() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try ClusterClientTests.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let channel = "shard-news:{orders}"
            let (listener, inbox) = try await Self.listen(redis, to: [channel])
            defer { listener.cancel() }
            var receivers = 0
            for number in 0..<50 { receivers += try await redis.spublish("m\(number)", to: channel) }
            #expect(receivers == 50, "every SPUBLISH reached our one subscriber")
            try await ClusterClientTests.eventually { inbox.count(channel) == 50 }
            #expect(inbox.messages.withLock { $0[channel] } == (0..<50).map { "m\($0)" })
            let owner = try await cluster.primaryPort(forKey: channel)
            #expect(try await Self.shardSubscribers(cluster, port: owner, channel: channel) == 1)
            #expect(inbox.gaps.load(ordering: .relaxed) == 0)
        }
    }

    @Test("one subscription over channels on all three shards: one connection per primary, every message arrives")
    func channelsOnEveryShard() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try ClusterClientTests.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let placed = try await Self.channelsOnDistinctPrimaries(cluster, count: 3)
            // Two channels in one slot (one hash tag) travel in one SSUBSCRIBE; the others each in their own.
            let channels = placed.map(\.channel) + ["{\(placed[0].channel)}:twin"]
            let (listener, inbox) = try await Self.listen(redis, to: channels)
            defer { listener.cancel() }
            for channel in channels {
                for number in 0..<20 { _ = try await redis.spublish("\(channel)#\(number)", to: channel) }
            }
            try await ClusterClientTests.eventually { channels.allSatisfy { inbox.count($0) == 20 } }
            for channel in channels { #expect(inbox.count(channel) == 20, "\(channel)") }
            for (channel, port) in placed {
                #expect(try await Self.shardSubscribers(cluster, port: port, channel: channel) == 1)
            }
            // One subscriber connection per primary: each primary has exactly one client subscribed to shard
            // channels (CLIENT LIST counts ssub per client).
            for port in Set(placed.map(\.port)) {
                let clients = try await cluster.cli(port, ["CLIENT", "LIST"])
                let subscribed = clients.split(separator: "\n").filter {
                    !$0.contains("ssub=0") && $0.contains("ssub=")
                }
                #expect(subscribed.count == 1, "\(port): \(subscribed)")
            }
        }
    }

    @Test("a live migration of the subscribed channel's slot: the subscription follows and later messages arrive")
    func subscriptionFollowsASlotMigration() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try ClusterClientTests.client(cluster.url)
            defer { Task { await redis.shutdown() } }
            let channel = "shard-news:migrating"
            let (listener, inbox) = try await Self.listen(redis, to: [channel])
            defer { listener.cancel() }
            _ = try await redis.spublish("before", to: channel)
            #expect(try await ClusterClientTests.eventually { inbox.contains("before", on: channel) })

            let slot = Int(HashSlot(key: channel).rawValue)
            let source = try await cluster.primaryPort(forKey: channel)
            let target = cluster.ports.prefix(3).first { $0 != source } ?? cluster.basePort
            let ids = try await ClusterClientTests.nodeIDs(cluster)
            guard let sourceID = ids[source], let targetID = ids[target] else {
                throw TestServerError("no node ids for \(source) and \(target)")
            }
            // The documented live migration: importing on the target, migrating on the source, (no keys to move),
            // then the new owner on both and on the third primary.
            try await cluster.cli(target, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
            try await cluster.cli(source, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
            for port in [target, source] + cluster.ports.prefix(3).filter({ $0 != source && $0 != target }) {
                try await cluster.cli(port, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
            }
            #expect(try await cluster.primaryPort(forKey: channel) == target)

            let arrived = try await Self.publishAfterTheMove(redis, inbox, channel: channel, marker: "after", count: 30)
            #expect(arrived == 30, "every message published after the subscription moved arrives")
            #expect(try await Self.shardSubscribers(cluster, port: target, channel: channel) == 1)
            #expect(try await Self.shardSubscribers(cluster, port: source, channel: channel) == 0)
            #expect(inbox.gaps.load(ordering: .relaxed) >= 1, "the move is reported as a gap")
            // It was the old owner's own sunsubscribe that moved it (nothing else happened to its connection).
            #expect(redis.shardedSubscriber!.droppedByServer.load(ordering: .relaxed) >= 1)
            #expect(redis.shardedSubscriber!.relocations.load(ordering: .relaxed) == 1)
        }
    }

    @Test("the owning primary killed: its replica is promoted and the subscription is re-established there")
    func subscriptionFollowsAFailover() async throws {
        try await RedisClusterFixture.withRedisCluster { cluster in
            let redis = try ClusterClientTests.client(cluster.url, commandTimeout: .seconds(15))
            defer { Task { await redis.shutdown() } }
            let placed = try await Self.channelsOnDistinctPrimaries(cluster, count: 2)
            let (channel, victim) = placed[0]
            let (bystander, bystanderPort) = placed[1]
            let (listener, inbox) = try await Self.listen(redis, to: [channel, bystander])
            defer { listener.cancel() }
            _ = try await redis.spublish("before", to: channel)
            #expect(try await ClusterClientTests.eventually { inbox.contains("before", on: channel) })

            try cluster.kill(victim)
            let arrived = try await Self.publishAfterTheMove(redis, inbox, channel: channel, marker: "after", count: 30)
            #expect(arrived == 30, "every message published after the subscription moved arrives")
            let promoted = try await cluster.primaryPort(forKey: channel, askingNode: bystanderPort)
            #expect(promoted != victim)
            #expect(try await Self.shardSubscribers(cluster, port: promoted, channel: channel) == 1)
            #expect(inbox.gaps.load(ordering: .relaxed) >= 1, "the failover is reported as a gap")
            // At least the dead node's leg moved (on a starved two-core machine another primary may be failed over too).
            #expect(redis.shardedSubscriber!.relocations.load(ordering: .relaxed) >= 1)
            // The dead primary's subscriber is closed once it serves no slot and holds no leg.
            #expect(
                try await ClusterClientTests.eventually {
                    !redis.shardedSubscriber!.subscriberNodes.contains { $0.port == victim }
                }
            )
            // The channel on the surviving shard kept working throughout.
            for number in 0..<10 { _ = try await redis.spublish("b\(number)", to: bystander) }
            #expect(try await ClusterClientTests.eventually { inbox.count(bystander) == 10 })
        }
    }

    @Test("on a single server SSUBSCRIBE and SPUBLISH work against that server")
    func standaloneServer() async throws {
        let server = try await RedisTestServer.start()
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(10)
        var logger = Logger(label: "sharded-standalone")
        logger.logLevel = .critical
        let redis = RedisClient(configuration: configuration, logger: logger)
        do {
            // Channels in different slots: one SSUBSCRIBE per slot, as a cluster would require.
            let channels = ["alpha", "beta", "gamma"]
            let (listener, inbox) = try await Self.listen(redis, to: channels)
            defer { listener.cancel() }
            for channel in channels {
                for number in 0..<10 { #expect(try await redis.spublish("\(number)", to: channel) == 1) }
            }
            try await ClusterClientTests.eventually { channels.allSatisfy { inbox.count($0) == 10 } }
            for channel in channels { #expect(inbox.count(channel) == 10) }
            #expect(try await server.cli(["PUBSUB", "SHARDNUMSUB", "alpha"]).contains("1"))
        } catch {
            await redis.shutdown()
            await server.destroy()
            throw error
        }
        await redis.shutdown()
        await server.destroy()
    }
}
