import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The cluster side of ``RedisClient``: the slot map, one ``RedisConnectionPool`` per node, and topology refreshes.
///
/// The map is learnt from the seeds (`CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers before 7.0) and refreshed
/// when a node redirects (`MOVED`), when a node cannot be reached, and periodically; concurrent refreshes are
/// coalesced into one. A `MOVED` answer also updates its slot at once, so the retry does not wait for the refresh.
final class ClusterRouter: Sendable {
    private struct State {
        var topology: ClusterTopology?
        var pools: [RedisEndpoint: RedisConnectionPool] = [:]
        /// Pools of replicas for reads (``RedisConfiguration/ReadFrom/replicaPreferred``): their connections send
        /// `READONLY`, so they are kept apart from ``pools``.
        var replicaPools: [RedisEndpoint: RedisConnectionPool] = [:]
        var refresh: Task<Void, Never>?
        var lastRefresh: NIODeadline?
        var subscriberNode = 0
        var isShutDown = false
    }

    let configuration: RedisConfiguration
    let seeds: [RedisEndpoint]
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    /// How many `MOVED` and `ASK` answers were followed (tests count them; a correct map needs none).
    let redirections = Atomic<Int>(0)
    /// How many reads a replica answered (tests count them).
    let replicaReads = Atomic<Int>(0)
    /// How many reads a replica could not serve and were sent to the primary instead (tests count them).
    let replicaFallbacks = Atomic<Int>(0)

    /// How often the map is refreshed when nothing asked for it.
    static let periodicRefresh: TimeAmount = .seconds(30)
    /// The least time between two refreshes that were not forced.
    static let refreshSpacing: TimeAmount = .milliseconds(100)

    init(configuration: RedisConfiguration, seeds: [RedisEndpoint], eventLoopGroup: any EventLoopGroup, logger: Logger)
    {
        precondition(!seeds.isEmpty, "a cluster needs at least one seed")
        self.configuration = configuration
        self.seeds = seeds
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(State())
    }

    // MARK: Routing

    /// The pool of one node, created on first use.
    /// Every pool, of primaries and of replicas.
    var allPools: [RedisConnectionPool] {
        self.state.withLockedValue { Array($0.pools.values) + Array($0.replicaPools.values) }
    }

    func pool(for endpoint: RedisEndpoint) -> RedisConnectionPool {
        self.state.withLockedValue { state in
            if let pool = state.pools[endpoint] { return pool }
            let pool = RedisConnectionPool(
                configuration: self.configuration.forNode(endpoint),
                eventLoopGroup: self.eventLoopGroup,
                logger: self.logger
            )
            state.pools[endpoint] = pool
            return pool
        }
    }

    /// The pool of one replica, created on first use; its connections send `READONLY` after the handshake.
    func replicaPool(for endpoint: RedisEndpoint) -> RedisConnectionPool {
        self.state.withLockedValue { state in
            if let pool = state.replicaPools[endpoint] { return pool }
            let pool = RedisConnectionPool(
                configuration: self.configuration.forReplica(endpoint),
                eventLoopGroup: self.eventLoopGroup,
                logger: self.logger
            )
            state.replicaPools[endpoint] = pool
            return pool
        }
    }

    /// A replica of the shard serving `slot`, picked at random; nil when the map names none (or is not known yet).
    func replica(for slot: HashSlot) -> RedisEndpoint? {
        self.state.withLockedValue { state in
            guard !state.isShutDown else { return nil }
            return state.topology?.replicas(for: slot).randomElement()
        }
    }

    /// The node to send a command for `slot` to: the slot's primary, or any primary for a command without keys.
    /// Learns the map first when there is none. Nil when no node serves the slot (the caller waits and retries).
    func endpoint(for slot: HashSlot?) async throws -> RedisEndpoint? {
        if self.state.withLockedValue({ $0.topology == nil }) {
            await self.refresh(force: true)
        }
        return try self.state.withLockedValue { state -> RedisEndpoint? in
            if state.isShutDown { throw RedisError(.shutdown, "the Redis client has shut down") }
            guard let topology = state.topology else { return nil }
            if let slot { return topology.primary(for: slot) }
            return topology.primaries.randomElement() ?? self.seeds.randomElement()
        }
    }

    /// Every primary now serving slots (for commands that must reach each: `SCAN`, `FLUSHALL`, `SCRIPT LOAD`).
    func primaries() async -> [RedisEndpoint] {
        if self.state.withLockedValue({ $0.topology == nil }) {
            await self.refresh(force: true)
        }
        return self.state.withLockedValue { $0.topology?.primaries ?? [] }
    }

    /// Applies a `MOVED` answer at once and refreshes the whole map in the background.
    func moved(_ slot: HashSlot, to endpoint: RedisEndpoint) {
        self.redirections.add(1, ordering: .relaxed)
        self.state.withLockedValue { state in
            if state.topology == nil { state.topology = ClusterTopology(shards: []) }
            state.topology?.move(slot, to: endpoint)
        }
        self.refreshSoon()
    }

    /// Starts a refresh unless one is running or one finished moments ago.
    func refreshSoon() {
        Task { await self.refresh(force: false) }
    }

    // MARK: Refreshing

    /// Asks the known primaries, then the seeds, for the slot map; the first usable answer wins. Callers that arrive
    /// while a refresh runs wait for that one instead of starting another.
    func refresh(force: Bool) async {
        let now = NIODeadline.now()
        let task = self.state.withLockedValue { state -> Task<Void, Never>? in
            if state.isShutDown { return nil }
            if let running = state.refresh { return running }
            if !force, let last = state.lastRefresh, now - last < Self.refreshSpacing { return nil }
            let candidates = Self.uniqued((state.topology?.primaries.shuffled() ?? []) + self.seeds)
            let task = Task { await self.fetchTopology(from: candidates) }
            state.refresh = task
            return task
        }
        await task?.value
    }

    private func fetchTopology(from candidates: [RedisEndpoint]) async {
        var learnt: ClusterTopology?
        for endpoint in candidates {
            do {
                let topology = try await self.askForTopology(endpoint)
                if topology.coveredSlots > 0 {
                    learnt = topology
                    break
                }
            } catch {
                self.logger.debug(
                    "redis cluster node did not describe the cluster",
                    metadata: ["redis.node": "\(endpoint)", "error": "\(error)"]
                )
            }
        }
        let retired = self.state.withLockedValue { state -> [RedisConnectionPool] in
            state.refresh = nil
            state.lastRefresh = NIODeadline.now()
            guard let learnt, !state.isShutDown else { return [] }
            if state.topology != learnt {
                self.logger.info(
                    "redis cluster topology",
                    metadata: [
                        "redis.primaries": "\(learnt.primaries.map(\.description).joined(separator: ","))",
                        "redis.covered_slots": "\(learnt.coveredSlots)",
                    ]
                )
            }
            state.topology = learnt
            let keep = Set(learnt.allNodes + self.seeds)
            let gone = state.pools.keys.filter { !keep.contains($0) }
            // A replica promoted to primary (or gone) loses its READONLY pool.
            let replicas = Set(learnt.shards.flatMap(\.replicas))
            let goneReplicas = state.replicaPools.keys.filter { !replicas.contains($0) }
            return gone.compactMap { state.pools.removeValue(forKey: $0) }
                + goneReplicas.compactMap { state.replicaPools.removeValue(forKey: $0) }
        }
        if learnt == nil {
            self.logger.warning(
                "redis cluster: no node described the cluster",
                metadata: ["redis.nodes": "\(candidates)"]
            )
        }
        for pool in retired {
            Task { await pool.shutdown(grace: self.configuration.commandTimeout ?? .seconds(5)) }
        }
    }

    private func askForTopology(_ endpoint: RedisEndpoint) async throws -> ClusterTopology {
        let connection = try await self.pool(for: endpoint).sharedConnection()
        let timeout = self.configuration.connectTimeout
        do {
            let reply = try await connection.send(RedisCommand("CLUSTER", "SHARDS"), timeout: timeout)
            return try ClusterTopology.parse(
                shardsReply: reply,
                tls: self.configuration.tls != nil,
                answeredBy: endpoint
            )
        } catch let error as RedisError where error.code == .server && error.serverErrorPrefix == "ERR" {
            // Before Redis 7.0 there is no CLUSTER SHARDS.
            let reply = try await connection.send(RedisCommand("CLUSTER", "SLOTS"), timeout: timeout)
            return try ClusterTopology.parse(slotsReply: reply, answeredBy: endpoint)
        }
    }

    // MARK: Subscriber node

    /// The pool the classic pub/sub connection uses: any node receives every `PUBLISH` of the cluster.
    func subscriberPool() -> RedisConnectionPool {
        let endpoint = self.state.withLockedValue { state -> RedisEndpoint in
            let nodes = Self.uniqued((state.topology?.allNodes ?? []) + self.seeds)
            return nodes[state.subscriberNode % nodes.count]
        }
        return self.pool(for: endpoint)
    }

    /// The subscriber could not connect: the next attempt tries another node, and the map is refreshed.
    func subscriberNodeFailed() {
        self.state.withLockedValue { $0.subscriberNode &+= 1 }
        self.refreshSoon()
    }

    // MARK: Maintenance and shutdown

    /// Keep-alive and idle reaping on every node's pool, and the periodic refresh.
    func maintain() async {
        let (pools, due) = self.state.withLockedValue { state in
            let due = state.lastRefresh.map { NIODeadline.now() - $0 >= Self.periodicRefresh } ?? true
            return (Array(state.pools.values) + Array(state.replicaPools.values), due)
        }
        for pool in pools { await pool.maintain() }
        if due { await self.refresh(force: false) }
    }

    func shutdown(grace: Duration) async {
        let (pools, refresh) = self.state.withLockedValue { state in
            state.isShutDown = true
            return (Array(state.pools.values) + Array(state.replicaPools.values), state.refresh)
        }
        refresh?.cancel()
        await withTaskGroup(of: Void.self) { group in
            for pool in pools { group.addTask { await pool.shutdown(grace: grace) } }
        }
    }

    private static func uniqued(_ endpoints: [RedisEndpoint]) -> [RedisEndpoint] {
        var seen = Set<RedisEndpoint>()
        return endpoints.filter { seen.insert($0).inserted }
    }
}
