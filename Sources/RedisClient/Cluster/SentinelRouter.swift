import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The Sentinel side of ``RedisClient``: which server is the primary now, and its pool.
///
/// The primary is asked of the sentinels (`SENTINEL GET-MASTER-ADDR-BY-NAME`, the first that answers wins) on first
/// use, when its pool cannot connect, when a server answers `READONLY`, and when a sentinel announces
/// `+switch-master` (a subscription kept on one sentinel at a time). Every connection to the primary checks `ROLE`
/// in its handshake, so a server that was demoted is refused even before Sentinel says so. When the primary changes,
/// a new pool takes the commands and the old one is drained and closed; concurrent rediscoveries are coalesced.
final class SentinelRouter: Sendable {
    private struct State {
        var primary: RedisEndpoint?
        var pool: RedisConnectionPool?
        var discovery: Task<Void, Never>?
        var lastDiscovery: NIODeadline?
        var sentinelIndex = 0
        var watching = false
        var watcher: Task<Void, Never>?
        var isShutDown = false
    }

    let configuration: RedisConfiguration
    let sentinels: [RedisEndpoint]
    let masterName: String
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sentinelPools: [RedisEndpoint: RedisConnectionPool]
    private let watcherSubscriber: RedisSubscriber
    private let state: NIOLockedValueBox<State>
    /// How many times the client moved to another primary (tests count them).
    let switches = Atomic<Int>(0)

    /// The least time between two rediscoveries that were not forced.
    static let discoverySpacing: TimeAmount = .milliseconds(100)
    /// How often the primary is asked for again when nothing asked for it.
    static let periodicDiscovery: TimeAmount = .seconds(30)

    init(
        configuration: RedisConfiguration,
        sentinels: [RedisEndpoint],
        masterName: String,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        precondition(!sentinels.isEmpty, "Sentinel needs at least one sentinel")
        self.configuration = configuration
        self.sentinels = sentinels
        self.masterName = masterName
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        var pools: [RedisEndpoint: RedisConnectionPool] = [:]
        for sentinel in sentinels where pools[sentinel] == nil {
            pools[sentinel] = RedisConnectionPool(
                configuration: configuration.forSentinel(sentinel),
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
        }
        let sentinelPools = pools
        self.sentinelPools = sentinelPools
        let state = NIOLockedValueBox(State())
        self.state = state
        let ordered = sentinels
        self.watcherSubscriber = RedisSubscriber(
            nodes: RedisSubscriber.Nodes(
                current: { sentinelPools[ordered[state.withLockedValue { $0.sentinelIndex } % ordered.count]] },
                failed: { state.withLockedValue { $0.sentinelIndex &+= 1 } }
            ),
            configuration: configuration.forSentinel(sentinels[0]),
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
    }

    // MARK: The primary

    /// The pool of the primary, asking the sentinels first when none is known.
    /// The current primary's pool, if one was opened.
    var poolIfOpen: RedisConnectionPool? { self.state.withLockedValue { $0.pool } }

    func currentPool() async throws -> RedisConnectionPool {
        self.startWatching()
        if let pool = self.knownPool { return pool }
        await self.discover(force: true)
        if let pool = self.knownPool { return pool }
        throw RedisError(.clusterUnavailable, "no sentinel named a primary for \(self.masterName)")
    }

    /// The pool of the primary if one is known, without asking.
    var knownPool: RedisConnectionPool? {
        self.state.withLockedValue { $0.isShutDown ? nil : $0.pool }
    }

    /// The primary could not be reached, or answered as a replica: ask the sentinels again soon.
    func primaryFailed() {
        Task { await self.discover(force: false) }
    }

    /// Asks the sentinels, in turn, for the primary; the first answer wins. Callers that arrive while a discovery
    /// runs wait for that one.
    func discover(force: Bool) async {
        let now = NIODeadline.now()
        let task = self.state.withLockedValue { state -> Task<Void, Never>? in
            if state.isShutDown { return nil }
            if let running = state.discovery { return running }
            if !force, let last = state.lastDiscovery, now - last < Self.discoverySpacing { return nil }
            let task = Task { await self.askSentinels() }
            state.discovery = task
            return task
        }
        await task?.value
    }

    private func askSentinels() async {
        var found: RedisEndpoint?
        for sentinel in self.sentinels {
            do {
                let connection = try await self.sentinelPools[sentinel]!.sharedConnection()
                let reply = try await connection.send(
                    RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.masterName),
                    timeout: self.configuration.connectTimeout
                )
                guard case .array(let parts) = reply, parts.count == 2,
                    let host = try? parts[0].decode(as: String.self),
                    let portText = try? parts[1].decode(as: String.self), let port = Int(portText)
                else { continue }
                found = RedisEndpoint(host: host, port: port)
                break
            } catch {
                self.logger.debug(
                    "redis sentinel did not answer",
                    metadata: ["redis.sentinel": "\(sentinel)", "error": "\(error)"]
                )
            }
        }
        self.state.withLockedValue { state in
            state.discovery = nil
            state.lastDiscovery = NIODeadline.now()
        }
        if let found {
            self.use(found)
        } else {
            self.logger.warning(
                "redis sentinel: no sentinel named a primary",
                metadata: ["redis.master": "\(self.masterName)"]
            )
        }
    }

    /// Points every new command at `endpoint`; the previous primary's pool is drained and closed.
    private func use(_ endpoint: RedisEndpoint) {
        let retired = self.state.withLockedValue { state -> RedisConnectionPool?? in
            guard !state.isShutDown, state.primary != endpoint else { return nil }
            var primary = self.configuration.forNode(endpoint)
            primary.requiresPrimaryRole = true
            let old = state.pool
            state.primary = endpoint
            state.pool = RedisConnectionPool(
                configuration: primary,
                eventLoopGroup: self.eventLoopGroup,
                logger: self.logger
            )
            return .some(old)
        }
        guard case .some(let old) = retired else { return }
        if let old {
            self.switches.add(1, ordering: .relaxed)
            self.logger.notice("redis sentinel: the primary moved", metadata: ["redis.primary": "\(endpoint)"])
            Task { await old.shutdown(grace: self.configuration.commandTimeout ?? .seconds(5)) }
        } else {
            self.logger.info("redis sentinel: primary", metadata: ["redis.primary": "\(endpoint)"])
        }
    }

    // MARK: +switch-master

    /// Keeps a subscription to `+switch-master` on one sentinel (the next one when it fails), from the first use on.
    private func startWatching() {
        let start = self.state.withLockedValue { state -> Bool in
            guard !state.watching, !state.isShutDown else { return false }
            state.watching = true
            return true
        }
        guard start else { return }
        let watcher = Task { await self.watch() }
        let stopped = self.state.withLockedValue { state -> Bool in
            state.watcher = watcher
            return state.isShutDown
        }
        if stopped { watcher.cancel() }
    }

    private func watch() async {
        while !Task.isCancelled {
            do {
                let (id, stream) = try await self.watcherSubscriber.subscribe(
                    channels: ["+switch-master"],
                    patterns: [],
                    bufferSize: 64
                )
                do {
                    for try await event in stream {
                        switch event {
                        case .message(let message):
                            self.switched(message.payloadString)
                        case .gap:
                            // Announcements may have been missed while the sentinel link was down.
                            await self.discover(force: true)
                        }
                    }
                } catch {}
                await self.watcherSubscriber.unsubscribe(id: id)
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// `<master name> <old ip> <old port> <new ip> <new port>`.
    private func switched(_ payload: String) {
        let parts = payload.split(separator: " ")
        guard parts.count == 5, parts[0] == self.masterName, let port = Int(parts[4]) else { return }
        self.use(RedisEndpoint(host: String(parts[3]), port: port))
    }

    // MARK: Maintenance and shutdown

    func maintain() async {
        let (pool, due) = self.state.withLockedValue { state in
            (state.pool, state.lastDiscovery.map { NIODeadline.now() - $0 >= Self.periodicDiscovery } ?? false)
        }
        await pool?.maintain()
        for sentinelPool in self.sentinelPools.values { await sentinelPool.maintain() }
        if due { await self.discover(force: false) }
    }

    func shutdown(grace: Duration) async {
        let (pool, watcher, discovery) = self.state.withLockedValue { state in
            state.isShutDown = true
            return (state.pool, state.watcher, state.discovery)
        }
        watcher?.cancel()
        discovery?.cancel()
        await self.watcherSubscriber.shutdown()
        await pool?.shutdown(grace: grace)
        for sentinelPool in self.sentinelPools.values { await sentinelPool.shutdown(grace: grace) }
    }
}
