import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RedisClient
import Shop
import Synchronization
import Testing

/// The instance registry: every `shop serve` writes a heartbeat, admins list the fleet.
@Suite("Instance registry")
struct InstancesTests {
    struct Listing: Decodable {
        struct Instance: Decodable {
            var id: String
            var status: String
            var version: String
            var host: String
            var pid: Int
            var redisMode: String
            var roles: [String: Bool]
            var startedAt: String
            var lastHeartbeatAt: String
        }
        struct Meta: Decodable {
            var instance: String
            var heartbeatIntervalMs: Int
            var missingAfterMs: Int
        }
        var data: [Instance]
        var meta: Meta
    }

    @Test("every running instance is listed live with what it runs; users get 403, anonymous callers 401")
    func runningInstancesAreListed() async throws {
        let prefix = Mutex("")
        let configure: @Sendable (inout ShopConfiguration) throws -> Void = { configuration in
            configuration.queue.relayEnabled = false
            prefix.withLock { $0 = configuration.jobs.keyPrefix }
        }
        try await withCatalogApps(instances: 2, configure: configure) { clients, _ in
            let admin = try await clients[1].adminCookie()
            // The first heartbeat is written when the service starts; wait (bounded) until both are in.
            var listing: Listing?
            for _ in 0..<100 {
                let response = try await clients[1].catalogRequest(.get, "/api/v1/admin/instances", cookie: admin)
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                listing = try JSONDecoder().decode(Listing.self, from: Data(buffer: response.body))
                if listing?.data.count == 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let instances = try #require(listing).data
            #expect(instances.map(\.id) == ["test-1", "test-2"])
            for instance in instances {
                #expect(instance.status == "live")
                #expect(instance.pid == Int(ProcessInfo.processInfo.processIdentifier))
                #expect(
                    instance.redisMode
                        == (ProcessInfo.processInfo.environment["REDIS_URL"]?.contains("+cluster") == true
                            ? "cluster" : "standalone")
                )
                #expect(instance.roles == ["scheduler": true, "queueConsumers": true, "outboxRelay": false])
                #expect(!instance.version.isEmpty && !instance.host.isEmpty)
            }
            #expect(try #require(listing).meta.instance == "test-2")
            #expect(try #require(listing).meta.missingAfterMs == 3 * (try #require(listing).meta.heartbeatIntervalMs))

            let user = try await clients[0].userCookie()
            #expect(
                try await clients[0].catalogRequest(.get, "/api/v1/admin/instances", cookie: user).status == .forbidden
            )
            #expect(try await clients[0].catalogRequest(.get, "/api/v1/admin/instances").status == .unauthorized)
        }
        // Both stopped gracefully: each removed its own entry, so the registry's keys are gone.
        let redis = RedisClient(configuration: try TestServers.redis, logger: TestServers.logger)
        let keyPrefix = prefix.withLock { $0 }
        #expect(try await redis.exists(keyPrefix + "{instances}:info") == 0)
        #expect(try await redis.exists(keyPrefix + "{instances}:seen") == 0)
        await redis.shutdown()
    }

    @Test("an instance that stops writing turns missing after three intervals and is forgotten later, keys and all")
    func silentInstancesTurnMissingThenAreForgotten() async throws {
        let redis = RedisClient(configuration: try TestServers.redis, logger: TestServers.logger)
        let prefix = "test:instances:\(UUID().uuidString.prefix(8).lowercased()):"
        let clock = Atomic<Int64>(1_800_000_000_000)
        let liveness = InstanceLiveness(interval: .seconds(5), forgetAfter: .seconds(60))
        func registry(_ id: String) -> InstanceRegistry {
            InstanceRegistry(
                redis: redis,
                keyPrefix: prefix,
                liveness: liveness,
                logger: TestServers.logger,
                now: { clock.load(ordering: .relaxed) },
                record: {
                    InstanceRecord(
                        id: id,
                        version: "t",
                        host: "h",
                        pid: 1,
                        httpPort: 0,
                        redisMode: "standalone",
                        scheduler: false,
                        queueConsumers: false,
                        outboxRelay: false,
                        startedAtMilliseconds: 0
                    )
                }
            )
        }
        let killed = registry("a-killed")
        let running = registry("b-running")
        try await killed.heartbeat()
        try await running.heartbeat()
        #expect(try await running.list().map(\.status) == [.live, .live])

        // 15 s without a heartbeat is still live (two lost heartbeats); a little more is missing.
        clock.add(15_000, ordering: .relaxed)
        try await running.heartbeat()
        #expect(try await running.list().map(\.record.id) == ["a-killed", "b-running"])
        #expect(try await running.list().first { $0.record.id == "a-killed" }?.status == .live)
        clock.add(1, ordering: .relaxed)
        try await running.heartbeat()
        let listed = try await running.list()
        #expect(listed.map(\.record.id) == ["b-running", "a-killed"], "live ones first")
        #expect(listed.map(\.status) == [.live, .missing])

        // Past the forget time a-killed is left out (b-running, silent for exactly the forget time, is still there as
        // missing), and the next heartbeat of anyone removes it from both keys.
        clock.add(60_000, ordering: .relaxed)
        let afterForget = try await running.list()
        #expect(afterForget.map(\.record.id) == ["b-running"])
        #expect(afterForget.map(\.status) == [.missing])
        #expect(try await redis.hgetall(prefix + "{instances}:info").count == 2, "pruning is the writers' job")
        try await running.heartbeat()
        #expect(try await running.list().map(\.record.id) == ["b-running"])
        #expect(try await redis.hgetall(prefix + "{instances}:info").keys.sorted() == ["b-running"])
        #expect(try await redis.zcard(prefix + "{instances}:seen") == 1)
        // Both keys expire a day after the last heartbeat.
        let ttl = try await redis.send(RedisCommand("PTTL", key: prefix + "{instances}:info")).decode(as: Int.self)
        #expect(ttl > 86_000_000 && ttl <= 86_400_000)

        try await running.leave()
        #expect(try await redis.exists(prefix + "{instances}:info") == 0)
        await redis.shutdown()
    }

    @Test("the liveness rule at its edges")
    func livenessRule() {
        let rule = InstanceLiveness(interval: .seconds(5), forgetAfter: .seconds(60))
        #expect(rule.status(lastSeen: 0, now: 15_000) == .live)
        #expect(rule.status(lastSeen: 0, now: 15_001) == .missing)
        #expect(rule.status(lastSeen: 0, now: 60_000) == .missing)
        #expect(rule.status(lastSeen: 0, now: 60_001) == nil)
        // A heartbeat from a clock a little ahead of the reader's is live.
        #expect(rule.status(lastSeen: 2_000, now: 0) == .live)
        // Forgetting never comes before missing.
        #expect(InstanceLiveness(interval: .seconds(5), forgetAfter: .seconds(1)).forgetAfter == .seconds(15))
    }
}
