/// The decisions of the shared subscriber connection: which channels and patterns Redis must be subscribed to,
/// when to connect, resubscribe, retry or give up, and what each subscription is told.
///
/// A pure state machine (no I/O, no locks, no clocks of its own), driven by ``RedisSubscriber`` under its lock;
/// generic over the connection and the waiting caller so tests drive it with plain values. There is at most one
/// connection attempt or retry timer at any time, by construction: only the transitions into `.connecting` and
/// `.waitingToRetry` emit `.connect` and `.retry`, and every event about a connection carries the generation it
/// was made for, so news about a connection that was already replaced is ignored.
struct SubscriberStateMachine<Connection: Sendable, Waiter: Sendable>: Sendable {
    enum Target: Hashable, Sendable {
        case channel(String)
        case pattern(String)
        /// A sharded channel (`SSUBSCRIBE`): served by the node that owns the channel's hash slot.
        case shardChannel(String)
    }

    /// Why a subscribe request was sent.
    enum Purpose: Hashable, Sendable {
        /// Everything registered, on a new connection.
        case restore
        /// The targets that subscription `id` added on a live connection.
        case add(UInt64)
    }

    enum ConnectionState: Sendable {
        case idle
        /// One attempt to open a connection is under way.
        case connecting
        /// The last attempt failed; the retry timer asked for with `.retry` runs.
        case waitingToRetry
        /// Connected, and everything registered was asked for; waiting for the confirmation.
        case subscribing(Connection, generation: Int)
        case connected(Connection, generation: Int)
        case shutdown
    }

    enum Action: Sendable {
        /// Open a connection, then report ``connected(_:)`` or ``connectFailed(_:now:)``.
        case connect
        /// Send `SUBSCRIBE`/`PSUBSCRIBE` for `targets`, then report ``subscribeCompleted(generation:purpose:error:now:)``.
        case subscribe(Connection, generation: Int, targets: [Target], purpose: Purpose)
        /// Send `UNSUBSCRIBE`/`PUNSUBSCRIBE` for `targets` (nothing to report back).
        case unsubscribe(Connection, targets: [Target])
        /// Start checking the connection's health (`PING` every keep-alive interval; close it when one fails).
        case monitor(Connection, generation: Int)
        /// The subscription is active: resume its caller.
        case activate(Waiter)
        /// The subscription could not start: fail its caller (its registration is already gone).
        case fail(Waiter, RedisError)
        /// Tell these subscriptions that messages may have been missed.
        case gap([UInt64], RedisSubscriptionGap.Reason)
        /// Close this connection (replaced, refused, or shutting down).
        case close(Connection)
        /// Call ``retryTimerFired()`` after this many nanoseconds.
        case retry(afterNanoseconds: UInt64)
        /// End every subscription's stream with this error.
        case finishAll(RedisError)
        /// The server dropped these sharded channels on its own (their slot moved to another node, or the node
        /// became a replica): these subscriptions must be subscribed again where the slot lives now.
        case moved([Target], subscriptions: [UInt64])
    }

    private(set) var connection: ConnectionState = .idle
    /// Every live subscription and what it listens to.
    private(set) var registrations: [UInt64: [Target]] = [:]
    /// Which subscriptions listen to each target; a target with none is not subscribed on the server.
    private(set) var listeners: [Target: Set<UInt64>] = [:]
    /// Callers of `subscribe` still waiting for their subscription to become active.
    private var waiting: [UInt64: Waiter] = [:]
    /// Targets whose `SUBSCRIBE` on the live connection is not confirmed yet, with the request that asked.
    /// A subscription that listens to one of them is active only once that request is confirmed.
    private var pendingAdds: [Target: UInt64] = [:]
    /// Active subscriptions that may have missed messages since the connection was lost.
    private var missed: Set<UInt64> = []
    /// Sharded channels the server dropped on its own on the live connection: a new subscription to one of them
    /// must ask again instead of riding on a subscription the server no longer has.
    private var dropped: Set<Target> = []
    /// Whether the current run of failed resubscribes was already reported.
    private var failureReported = false
    private var generation = 0
    private(set) var backoff: ReconnectBackoff

    init(backoff: ReconnectBackoff) {
        self.backoff = backoff
    }

    var isShutdown: Bool {
        if case .shutdown = self.connection { return true }
        return false
    }

    /// The subscriptions a message on `target` goes to.
    func subscriptions(of target: Target) -> Set<UInt64>? { self.listeners[target] }

    // MARK: Subscriptions

    /// Registers subscription `id` and says what to do so it becomes active.
    mutating func subscribe(id: UInt64, targets: [Target], waiter: Waiter, now: UInt64) -> [Action] {
        switch self.connection {
        case .shutdown:
            return [.fail(waiter, RedisError(.shutdown, "the Redis client has shut down"))]
        case .waitingToRetry:
            // Redis failed a moment ago: fail at once instead of waiting out an outage.
            let error = self.backoff.refusal(now: now) ?? self.unreachable()
            return [.fail(waiter, error)]
        default:
            break
        }
        let fresh = self.register(id: id, targets: targets)
        switch self.connection {
        case .idle:
            self.waiting[id] = waiter
            self.connection = .connecting
            return [.connect]
        case .connecting:
            // The restore of the connection being opened subscribes to everything registered, this one included.
            self.waiting[id] = waiter
            return []
        case .subscribing(let connection, let generation):
            // Activated once the restore and any add its targets wait for are confirmed.
            self.waiting[id] = waiter
            guard !fresh.isEmpty else { return [] }
            for target in fresh { self.pendingAdds[target] = id }
            return [.subscribe(connection, generation: generation, targets: fresh, purpose: .add(id))]
        case .connected(let connection, let generation):
            guard !fresh.isEmpty else {
                if self.isConfirmed(id) { return [.activate(waiter)] }
                self.waiting[id] = waiter  // another subscription's SUBSCRIBE for a target is still in flight
                return []
            }
            self.waiting[id] = waiter
            for target in fresh { self.pendingAdds[target] = id }
            return [.subscribe(connection, generation: generation, targets: fresh, purpose: .add(id))]
        case .waitingToRetry, .shutdown:
            return []  // handled above
        }
    }

    /// Ends subscription `id`; unsubscribes what no other subscription uses.
    mutating func unsubscribe(id: UInt64) -> [Action] {
        let stale = self.unregister(id: id)
        var actions: [Action] = []
        if let waiter = self.waiting.removeValue(forKey: id) {
            actions.append(.fail(waiter, RedisError(.connectionClosed, "the subscription ended before it started")))
        }
        switch self.connection {
        case .subscribing(let connection, _), .connected(let connection, _):
            if !stale.isEmpty { actions.append(.unsubscribe(connection, targets: stale)) }
        default:
            break
        }
        return actions
    }

    // MARK: Connection events

    /// A connection attempt succeeded.
    mutating func connected(_ connection: Connection) -> [Action] {
        guard case .connecting = self.connection else {
            // Shut down meanwhile (or an attempt nobody asked for): not wanted.
            return [.close(connection)]
        }
        self.backoff.recordSuccess()
        self.generation += 1
        self.pendingAdds = [:]  // the restore asks for every target
        self.dropped = []
        let targets = Array(self.listeners.keys)
        guard !targets.isEmpty else {
            // Everyone left while connecting; keep the connection for the next subscription.
            self.connection = .connected(connection, generation: self.generation)
            return [.monitor(connection, generation: self.generation)]
        }
        self.connection = .subscribing(connection, generation: self.generation)
        return [
            .monitor(connection, generation: self.generation),
            .subscribe(connection, generation: self.generation, targets: targets, purpose: .restore),
        ]
    }

    /// A connection attempt failed.
    mutating func connectFailed(_ error: RedisError, now: UInt64) -> [Action] {
        guard case .connecting = self.connection else { return [] }
        let delay = self.backoff.recordFailure(error, now: now)
        var actions = self.failWaiting(error)
        if self.registrations.isEmpty {
            self.connection = .idle
            return actions
        }
        self.connection = .waitingToRetry
        actions.append(.retry(afterNanoseconds: delay))
        return actions
    }

    /// The retry timer ran out.
    mutating func retryTimerFired() -> [Action] {
        guard case .waitingToRetry = self.connection else { return [] }
        if self.registrations.isEmpty {
            self.connection = .idle
            return []
        }
        self.connection = .connecting
        return [.connect]
    }

    /// A subscribe request finished; `error` is nil when Redis confirmed every target.
    mutating func subscribeCompleted(generation: Int, purpose: Purpose, error: RedisError?, now: UInt64) -> [Action] {
        let connection: Connection
        switch self.connection {
        case .subscribing(let current, let currentGeneration) where currentGeneration == generation:
            connection = current
        case .connected(let current, let currentGeneration) where currentGeneration == generation:
            connection = current
        default:
            return []  // about a connection already replaced
        }
        // The connection closed under the request, or had closed before it was written (refused, with the close as
        // its cause): the close itself is reported and starts the reconnect.
        if let error, error.code == .connectionClosed || (error.underlying as? RedisError)?.code == .connectionClosed {
            return []
        }
        switch purpose {
        case .restore:
            guard let error else {
                self.connection = .connected(connection, generation: generation)
                self.failureReported = false
                var actions = self.activateConfirmed()
                let missed = self.missed.filter { self.registrations[$0] != nil }.sorted()
                self.missed = []
                if !missed.isEmpty { actions.append(.gap(missed, .reconnected)) }
                return actions
            }
            // Connected, but the server refused to subscribe (an ACL change, say): tell everyone, drop this
            // connection and try again after a backoff.
            let delay = self.backoff.recordFailure(error, now: now)
            var actions = self.failWaiting(error)
            let active = self.registrations.keys.sorted()
            self.missed.formUnion(active)
            if !self.failureReported, !active.isEmpty {
                self.failureReported = true
                actions.append(.gap(active, .subscribeFailed(error.message)))
            }
            actions.append(.close(connection))
            if self.registrations.isEmpty {
                self.connection = .idle
            } else {
                self.connection = .waitingToRetry
                actions.append(.retry(afterNanoseconds: delay))
            }
            return actions
        case .add(let id):
            let asked = Set(self.pendingAdds.compactMap { $0.value == id ? $0.key : nil })
            for target in asked { self.pendingAdds[target] = nil }
            guard let error else {
                guard case .connected = self.connection else { return [] }  // activated with the restore
                return self.activateConfirmed()
            }
            // Refused (or timed out): every subscription still waiting for one of these targets fails, so none
            // is ever active without the server's confirmation.
            var actions: [Action] = []
            var stale: [Target] = []
            for (waitingID, waiter) in self.waiting
            where self.registrations[waitingID].map({ !asked.isDisjoint(with: $0) }) ?? false {
                self.waiting[waitingID] = nil
                actions.append(.fail(waiter, error))
                stale += self.unregister(id: waitingID)
            }
            // After a timeout the server may yet subscribe: make sure nothing stays subscribed for nobody.
            if !stale.isEmpty { actions.append(.unsubscribe(connection, targets: stale)) }
            return actions
        }
    }

    /// The connection of `generation` closed (dropped, reset, failed its health check, or closed by us).
    mutating func connectionClosed(generation: Int) -> [Action] {
        switch self.connection {
        case .subscribing(_, let current), .connected(_, let current):
            guard current == generation else { return [] }
        default:
            return []
        }
        if self.registrations.isEmpty {
            self.connection = .idle
            return []
        }
        self.missed.formUnion(self.registrations.keys.filter { self.waiting[$0] == nil })
        self.connection = .connecting
        return [.connect]
    }

    /// The server sent `sunsubscribe` for `target` without being asked: on a cluster, the channel's slot is no longer
    /// served by that node. Subscriptions listening to it are reported with `.moved`, so they can be placed on the
    /// slot's new owner; until they are, nothing arrives on that channel. News about a replaced connection, or about a
    /// channel nobody listens to (the confirmation of our own `SUNSUBSCRIBE`), changes nothing.
    mutating func serverUnsubscribed(generation: Int, target: Target) -> [Action] {
        switch self.connection {
        case .subscribing(_, let current), .connected(_, let current):
            guard current == generation else { return [] }
        default:
            return []
        }
        guard case .shardChannel = target, let ids = self.listeners[target], !ids.isEmpty else { return [] }
        self.dropped.insert(target)
        return [.moved([target], subscriptions: ids.sorted())]
    }

    /// Ends everything.
    mutating func shutdown() -> [Action] {
        var actions: [Action] = self.waiting.values.map {
            .fail($0, RedisError(.shutdown, "the Redis client has shut down"))
        }
        switch self.connection {
        case .subscribing(let connection, _), .connected(let connection, _):
            actions.append(.close(connection))
        default:
            break
        }
        actions.append(.finishAll(RedisError(.shutdown, "the Redis client has shut down")))
        self.connection = .shutdown
        self.waiting = [:]
        self.pendingAdds = [:]
        self.registrations = [:]
        self.listeners = [:]
        self.missed = []
        self.dropped = []
        return actions
    }

    // MARK: Bookkeeping

    /// Whether every target of subscription `id` is confirmed on the live connection.
    private func isConfirmed(_ id: UInt64) -> Bool {
        self.registrations[id]?.allSatisfy { self.pendingAdds[$0] == nil } ?? false
    }

    /// Activates every waiting subscription whose targets are all confirmed.
    private mutating func activateConfirmed() -> [Action] {
        var actions: [Action] = []
        for (id, waiter) in self.waiting where self.isConfirmed(id) {
            self.waiting[id] = nil
            actions.append(.activate(waiter))
        }
        return actions
    }

    /// Records the subscription; returns the targets nobody listened to before.
    private mutating func register(id: UInt64, targets: [Target]) -> [Target] {
        self.registrations[id] = targets
        var fresh: [Target] = []
        for target in Set(targets) {
            if self.listeners[target, default: []].isEmpty || self.dropped.remove(target) != nil {
                fresh.append(target)
            }
            self.listeners[target, default: []].insert(id)
        }
        return fresh
    }

    /// Forgets the subscription; returns the targets nobody listens to any more.
    private mutating func unregister(id: UInt64) -> [Target] {
        guard let targets = self.registrations.removeValue(forKey: id) else { return [] }
        self.missed.remove(id)
        var stale: [Target] = []
        for target in Set(targets) {
            self.listeners[target]?.remove(id)
            if self.listeners[target]?.isEmpty == true {
                self.listeners[target] = nil
                self.dropped.remove(target)
                stale.append(target)
            }
        }
        return stale
    }

    /// Fails every caller still waiting and forgets their subscriptions.
    private mutating func failWaiting(_ error: RedisError) -> [Action] {
        let waiting = self.waiting
        self.waiting = [:]
        self.pendingAdds = [:]
        return waiting.map { id, waiter in
            _ = self.unregister(id: id)
            return .fail(waiter, error)
        }
    }

    private func unreachable() -> RedisError {
        RedisError(.connectionUnavailable, "Redis is unreachable, retrying shortly")
    }
}
