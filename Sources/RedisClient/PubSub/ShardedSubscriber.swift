import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Sharded pub/sub (`SSUBSCRIBE`) on a cluster: one subscriber connection per primary, each a ``RedisSubscriber``
/// pinned to its node; the I/O side of ``ShardedSubscriptionTable``, which decides where each subscription's legs
/// (its channels of one slot) belong.
///
/// A subscription's stream is fed by the node subscribers of all its legs. A leg moves when its slot does: the node
/// drops its channels with a `sunsubscribe` push (``RedisSubscriber/ShardNotice/moved(subscriptions:)``), answers a
/// resubscribe with `MOVED`, or cannot be reached while the refreshed slot map names another owner (a failover).
/// Moving refreshes the slot map, subscribes the leg on the slot's owner, ends it on the old node, and then yields
/// ``RedisSubscriptionGap/Reason/reconnected`` to the subscription: what was published meanwhile is lost.
final class ShardedSubscriber: Sendable {
    typealias Table = ShardedSubscriptionTable<RedisEndpoint>
    typealias Continuation = AsyncThrowingStream<RedisSubscriptionEvent, any Error>.Continuation

    private struct State: Sendable {
        var table = Table()
        var subscribers: [RedisEndpoint: RedisSubscriber] = [:]
        var sinks: [UInt64: Continuation] = [:]
        var nextID: UInt64 = 0
        /// A rebalance runs; `again` asks it for one more pass (something changed while it ran).
        var rebalancing = false
        var again = false
        /// Whether a retry of unplaced legs is scheduled.
        var retryScheduled = false
        var isShutdown = false
    }

    private let router: ClusterRouter
    private let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    /// How many times a node dropped sharded channels on its own (`sunsubscribe`), and how many legs were subscribed
    /// again elsewhere (tests count them).
    let droppedByServer = Atomic<Int>(0)
    let relocations = Atomic<Int>(0)

    init(router: ClusterRouter, configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.router = router
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    // MARK: Subscriptions

    /// Subscribes to sharded channels on the nodes that own their slots and waits until every node confirmed.
    func subscribe(
        channels: [String],
        bufferSize: Int
    ) async throws -> (id: UInt64, stream: AsyncThrowingStream<RedisSubscriptionEvent, any Error>) {
        let (stream, continuation) = AsyncThrowingStream<RedisSubscriptionEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, bufferSize))
        )
        let (id, legs) = try self.state.withLockedValue { state in
            if state.isShutdown { throw RedisError(.shutdown, "the Redis client has shut down") }
            state.nextID += 1
            state.sinks[state.nextID] = continuation
            return (state.nextID, state.table.add(subscription: state.nextID, channels: channels))
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (leg, channels) in legs {
                    group.addTask { try await self.placeFirst(leg, channels: channels, into: continuation) }
                }
                try await group.waitForAll()
            }
        } catch {
            await self.unsubscribe(id: id)
            throw error
        }
        return (id, stream)
    }

    /// Ends a subscription on every node it has legs on, and finishes its stream.
    func unsubscribe(id: UInt64) async {
        let (ended, sink) = self.state.withLockedValue { state in
            (state.table.remove(subscription: id), state.sinks.removeValue(forKey: id))
        }
        sink?.finish()
        for placement in ended { await self.end(placement) }
    }

    /// Ends every subscription with a shutdown error and closes every node's subscriber connection.
    func shutdown() async {
        let (subscribers, sinks) = self.state.withLockedValue { state in
            state.isShutdown = true
            let result = (Array(state.subscribers.values), Array(state.sinks.values))
            state.subscribers = [:]
            state.sinks = [:]
            return result
        }
        for subscriber in subscribers { await subscriber.shutdown() }
        for sink in sinks { sink.finish(throwing: RedisError(.shutdown, "the Redis client has shut down")) }
    }

    /// Places a new leg on its slot's owner, following `MOVED` and waiting out a slot without an owner, an
    /// unreachable node or a subscriber in backoff, within the command timeout.
    private func placeFirst(_ leg: Table.Leg, channels: [String], into continuation: Continuation) async throws {
        let deadline = ContinuousClock.now.advanced(by: self.configuration.commandTimeout ?? .seconds(5))
        var attempts = 0
        while true {
            attempts += 1
            var failure: RedisError
            if let owner = try await self.router.endpoint(for: leg.slot) {
                do {
                    let id = try await self.subscriber(for: owner).subscribe(
                        targets: channels.map { .shardChannel($0) },
                        into: continuation,
                        ownsStream: false
                    )
                    let kept = self.state.withLockedValue { $0.table.placed(leg, on: owner, id: id) }
                    if kept == nil { await self.end(Table.Unsubscribe(node: owner, id: id)) }
                    return
                } catch {
                    failure = RedisConnectionPool.asRedisError(error)
                    switch ClusterRedirection(failure, answeredBy: owner) {
                    case .moved(let slot, let endpoint):
                        guard attempts <= RedisClient.maxRedirections else { throw failure }
                        self.router.moved(slot, to: endpoint)
                        continue
                    case .ask, .retryLater:
                        break
                    case nil:
                        guard failure.isUnavailability || failure.code == .connectionClosed else { throw failure }
                        self.router.refreshSoon()
                    }
                }
            } else {
                failure = RedisError(
                    .clusterUnavailable,
                    "no node of the cluster serves slot \(leg.slot) of the sharded channels \(channels)"
                )
            }
            let delay = Duration.milliseconds(min(640, 10 << min(attempts, 6)))
            guard ContinuousClock.now.advanced(by: delay) < deadline else {
                self.state.withLockedValue { $0.table.placementFailed(leg) }
                throw failure
            }
            try await Task.sleep(for: delay)
            await self.router.refresh(force: false)
        }
    }

    // MARK: Following the slots

    /// What a node's subscriber reports.
    private func handle(_ notice: RedisSubscriber.ShardNotice, from node: RedisEndpoint) {
        switch notice {
        case .moved(let ids):
            let ended = self.state.withLockedValue { $0.table.moved(on: node, ids: ids) }
            guard !ended.isEmpty else { return }
            self.droppedByServer.add(1, ordering: .relaxed)
            Task {
                for placement in ended { await self.end(placement) }
                await self.rebalance(refresh: true)
            }
        case .refused(let error):
            guard case .moved(let slot, let endpoint) = ClusterRedirection(error, answeredBy: node) else { return }
            self.router.moved(slot, to: endpoint)
            let ended = self.state.withLockedValue { $0.table.slotLeft(slot, node: node) }
            Task {
                for placement in ended { await self.end(placement) }
                await self.rebalance(refresh: true)
            }
        }
    }

    /// A node's subscriber could not connect: if the refreshed map names another owner for its slots (a replica was
    /// promoted), its legs move there.
    private func nodeFailed(_ node: RedisEndpoint) {
        Task { await self.rebalance(refresh: true) }
    }

    /// Moves every leg that is not on its slot's owner there (and places unplaced ones). Runs one at a time;
    /// callers that arrive meanwhile make it run once more. Legs that could not be placed are retried after a delay.
    func rebalance(refresh: Bool) async {
        let proceed = self.state.withLockedValue { state -> Bool in
            if state.isShutdown || state.table.entries.isEmpty { return false }
            if state.rebalancing {
                state.again = true
                return false
            }
            state.rebalancing = true
            return true
        }
        guard proceed else { return }
        var refresh = refresh
        while true {
            if refresh { await self.router.refresh(force: true) }
            let slots = self.state.withLockedValue { $0.table.slots }
            var owners: [HashSlot: RedisEndpoint] = [:]
            for slot in slots {
                if let owner = try? await self.router.endpoint(for: slot) { owners[slot] = owner }
            }
            let moves = self.state.withLockedValue { $0.table.rebalance(owners: owners) }
            await withTaskGroup(of: Void.self) { group in
                for move in moves { group.addTask { await self.perform(move) } }
            }
            let (again, retry) = self.state.withLockedValue { state -> (Bool, Bool) in
                let again = state.again && !state.isShutdown
                state.again = false
                if !again { state.rebalancing = false }
                let retry = !again && !state.isShutdown && state.table.hasUnplaced && !state.retryScheduled
                if retry { state.retryScheduled = true }
                return (again, retry)
            }
            if retry { self.scheduleRetry() }
            guard again else {
                await self.closeRetiredSubscribers()
                return
            }
            refresh = true
        }
    }

    private func perform(_ move: Table.Move) async {
        if let old = move.unsubscribe { await self.end(old) }
        guard let continuation = self.state.withLockedValue({ $0.sinks[move.leg.subscription] }) else {
            self.state.withLockedValue { $0.table.placementFailed(move.leg) }
            return
        }
        do {
            let id = try await self.subscriber(for: move.node).subscribe(
                targets: move.channels.map { .shardChannel($0) },
                into: continuation,
                ownsStream: false
            )
            let gap = self.state.withLockedValue { $0.table.placed(move.leg, on: move.node, id: id) }
            guard let gap else {
                await self.end(Table.Unsubscribe(node: move.node, id: id))
                return
            }
            if gap {
                self.relocations.add(1, ordering: .relaxed)
                continuation.yield(.gap(RedisSubscriptionGap(reason: .reconnected)))
            }
            self.logger.debug(
                "redis sharded subscription placed",
                metadata: ["redis.node": "\(move.node)", "redis.slot": "\(move.leg.slot)"]
            )
        } catch {
            let failure = RedisConnectionPool.asRedisError(error)
            self.state.withLockedValue { $0.table.placementFailed(move.leg) }
            if case .moved(let slot, let endpoint) = ClusterRedirection(failure, answeredBy: move.node) {
                self.router.moved(slot, to: endpoint)
            }
            self.logger.info(
                "redis sharded subscription could not be placed yet; retrying",
                metadata: ["redis.node": "\(move.node)", "error": "\(failure)"]
            )
        }
    }

    private func scheduleRetry() {
        let delay = self.configuration.maxReconnectDelay
        Task {
            try? await Task.sleep(for: delay)
            self.state.withLockedValue { $0.retryScheduled = false }
            await self.rebalance(refresh: true)
        }
    }

    // MARK: Node subscribers

    /// The nodes that have a subscriber (tests check that a dead primary's is closed).
    var subscriberNodes: Set<RedisEndpoint> { self.state.withLockedValue { Set($0.subscribers.keys) } }

    /// Closes the subscriber connections of nodes that serve no slot any more (a failed primary, a node that left) and
    /// hold no leg.
    private func closeRetiredSubscribers() async {
        let primaries = Set(await self.router.primaries())
        guard !primaries.isEmpty else { return }
        let retired = self.state.withLockedValue { state -> [RedisSubscriber] in
            let nodes = state.subscribers.keys.filter { !primaries.contains($0) && !state.table.hasLegs(on: $0) }
            return nodes.compactMap { state.subscribers.removeValue(forKey: $0) }
        }
        for subscriber in retired { await subscriber.shutdown() }
    }

    private func end(_ placement: Table.Unsubscribe) async {
        let subscriber = self.state.withLockedValue { $0.subscribers[placement.node] }
        await subscriber?.unsubscribe(id: placement.id)
    }

    /// The subscriber connection of one node, created on first use.
    private func subscriber(for node: RedisEndpoint) throws -> RedisSubscriber {
        try self.state.withLockedValue { state in
            if state.isShutdown { throw RedisError(.shutdown, "the Redis client has shut down") }
            if let subscriber = state.subscribers[node] { return subscriber }
            let router = self.router
            let subscriber = RedisSubscriber(
                nodes: RedisSubscriber.Nodes(
                    current: { router.pool(for: node) },
                    failed: { [weak self] in self?.nodeFailed(node) }
                ),
                configuration: self.configuration,
                eventLoopGroup: self.eventLoopGroup,
                logger: self.logger,
                notices: { [weak self] notice in self?.handle(notice, from: node) }
            )
            state.subscribers[node] = subscriber
            return subscriber
        }
    }
}
