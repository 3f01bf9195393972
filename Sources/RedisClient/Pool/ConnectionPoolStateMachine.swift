import NIOCore

/// The decisions of ``RedisConnectionPool``: which shared slot a command uses, who gets a dedicated connection,
/// who waits, what the keep-alive check may touch, and when to back off.
///
/// A pure state machine (no I/O, no locks; the time comes in as an argument), generic over the connection and
/// the waiting caller so tests drive it with plain values. The pool holds it under a lock and acts on what it
/// returns. Invariants:
/// - `dedicatedCount` counts every dedicated connection that exists or is being opened: leased, idle, being
///   checked by the keep-alive, or connecting. It never exceeds `maxDedicated`.
/// - A connection the keep-alive is checking is out of the idle list, so no caller can lease it meanwhile.
/// - Every waiter is resumed exactly once: handed a connection or a place, failed, or removed when it gives up.
struct ConnectionPoolStateMachine<Connection: AnyObject & Sendable, Waiter: Sendable>: Sendable {
    enum SharedSlot: Sendable {
        case empty
        case connecting
        case connected(Connection)
    }

    /// What a caller of ``leaseShared(now:)`` does.
    enum SharedDecision: Sendable {
        case ready(Connection)
        /// Wait for the slot being opened (register with ``waitForShared(slot:id:waiter:)``).
        case wait(slot: Int)
        /// Open a connection for the slot (and wait for it like everyone else).
        case open(slot: Int, connectionID: Int)
        case fail(RedisError)
    }

    /// What a waiter for a shared slot gets.
    enum SharedWaitDecision: Sendable {
        case ready(Connection)
        case fail(RedisError)
        case waiting
    }

    /// What a dedicated lease gets: a connection, or a place to open one in.
    enum Grant: Sendable {
        case connection(Connection)
        case open(connectionID: Int)
    }

    /// What a caller of ``leaseDedicated(id:waiter:now:)`` does.
    enum LeaseDecision: Sendable {
        case granted(Grant)
        case fail(RedisError)
        /// The waiter was queued; it is resumed through a later decision or removed with ``abandonLease(id:)``.
        case waiting
    }

    /// What happens to a connection given back (or checked by the keep-alive).
    enum ReturnDecision: Sendable {
        /// It goes to this waiter; if `close` is set, that connection is closed and the waiter opens a new one.
        case handOver(Waiter, Grant, close: Connection?)
        case close(Connection)
        case keep
    }

    private struct LeaseWaiter: Sendable {
        let id: UInt64
        let waiter: Waiter
    }

    private struct SharedWaiter: Sendable {
        let id: UInt64
        let slot: Int
        let waiter: Waiter
    }

    let maxDedicated: Int
    private(set) var shared: [SharedSlot]
    private var nextShared = 0
    private var sharedWaiters: [SharedWaiter] = []
    private(set) var idle: [(connection: Connection, since: UInt64)] = []
    private(set) var checking: [(connection: Connection, since: UInt64)] = []
    private(set) var dedicatedCount = 0
    private var leaseWaiters = CircularBuffer<LeaseWaiter>()
    private var backoff: ReconnectBackoff
    private var nextConnectionID = 0
    private(set) var isShutdown = false

    init(sharedSlots: Int, maxDedicated: Int, backoff: ReconnectBackoff) {
        self.shared = Array(repeating: .empty, count: max(1, sharedSlots))
        self.maxDedicated = max(1, maxDedicated)
        self.backoff = backoff
    }

    var waitingLeases: Int { self.leaseWaiters.count }

    /// The pool's connections and waiters now (``RedisPoolStatistics``; in-flight commands are the client's).
    var statistics: RedisPoolStatistics {
        var statistics = RedisPoolStatistics()
        statistics.sharedConnections = self.shared.count { if case .connected = $0 { true } else { false } }
        statistics.dedicatedConnections = self.dedicatedCount
        statistics.idleDedicatedConnections = self.idle.count
        statistics.waiters = self.sharedWaiters.count + self.leaseWaiters.count
        return statistics
    }

    private static var shutdownError: RedisError { RedisError(.shutdown, "the Redis client has shut down") }

    // MARK: Shared connections

    /// Picks the next shared slot (round robin).
    mutating func leaseShared(now: UInt64) -> SharedDecision {
        guard !self.isShutdown else { return .fail(Self.shutdownError) }
        let index = self.nextShared % self.shared.count
        self.nextShared &+= 1
        switch self.shared[index] {
        case .connected(let connection):
            return .ready(connection)
        case .connecting:
            return .wait(slot: index)
        case .empty:
            if let refusal = self.backoff.refusal(now: now) {
                // Backing off: another slot that is still connected serves the caller instead.
                for slot in self.shared {
                    if case .connected(let connection) = slot { return .ready(connection) }
                }
                return .fail(refusal)
            }
            self.shared[index] = .connecting
            return .open(slot: index, connectionID: self.makeConnectionID())
        }
    }

    /// Registers a caller waiting for `slot`; the slot may have settled since ``leaseShared(now:)``.
    mutating func waitForShared(slot: Int, id: UInt64, waiter: Waiter) -> SharedWaitDecision {
        guard !self.isShutdown else { return .fail(Self.shutdownError) }
        switch self.shared[slot] {
        case .connected(let connection):
            return .ready(connection)
        case .connecting:
            self.sharedWaiters.append(SharedWaiter(id: id, slot: slot, waiter: waiter))
            return .waiting
        case .empty:
            // The attempt failed in between: report what the backoff says, or that it failed.
            return .fail(RedisError(.connectionUnavailable, "the connection attempt failed"))
        }
    }

    /// A shared connection opened; returns the waiters to hand it to, or nil when it must be closed (shutdown).
    mutating func sharedOpened(slot: Int, _ connection: Connection) -> [Waiter]? {
        guard !self.isShutdown else { return nil }
        self.backoff.recordSuccess()
        self.shared[slot] = .connected(connection)
        return self.takeSharedWaiters(slot: slot)
    }

    /// A shared connection could not be opened; returns the waiters to fail.
    mutating func sharedOpenFailed(slot: Int, _ error: RedisError, now: UInt64) -> [Waiter] {
        if !self.isShutdown {
            self.shared[slot] = .empty
            self.backoff.recordFailure(error, now: now)
        }
        return self.takeSharedWaiters(slot: slot)
    }

    /// A waiter for a shared slot gave up (cancelled); returns it if it was still waiting.
    mutating func abandonShared(id: UInt64) -> Waiter? {
        guard let index = self.sharedWaiters.firstIndex(where: { $0.id == id }) else { return nil }
        return self.sharedWaiters.remove(at: index).waiter
    }

    /// A shared connection closed: its slot is opened again on next use.
    mutating func sharedClosed(_ connection: Connection) {
        for index in self.shared.indices {
            if case .connected(let current) = self.shared[index], current === connection {
                self.shared[index] = .empty
            }
        }
    }

    private mutating func takeSharedWaiters(slot: Int) -> [Waiter] {
        var taken: [Waiter] = []
        self.sharedWaiters.removeAll { waiter in
            guard waiter.slot == slot else { return false }
            taken.append(waiter.waiter)
            return true
        }
        return taken
    }

    // MARK: Dedicated connections

    /// Leases an idle connection, grants a place to open one, or queues the waiter.
    mutating func leaseDedicated(id: UInt64, waiter: Waiter, now: UInt64) -> LeaseDecision {
        guard !self.isShutdown else { return .fail(Self.shutdownError) }
        if let idle = self.idle.popLast() {
            return .granted(.connection(idle.connection))
        }
        if self.dedicatedCount < self.maxDedicated {
            if let refusal = self.backoff.refusal(now: now) { return .fail(refusal) }
            self.dedicatedCount += 1
            return .granted(.open(connectionID: self.makeConnectionID()))
        }
        self.leaseWaiters.append(LeaseWaiter(id: id, waiter: waiter))
        return .waiting
    }

    /// A dedicated connection opened in a granted place.
    mutating func dedicatedOpened() {
        self.backoff.recordSuccess()
    }

    /// Opening a dedicated connection failed: its place goes to the next waiter, or is freed.
    mutating func dedicatedOpenFailed(_ error: RedisError, now: UInt64) -> (Waiter, Grant)? {
        self.backoff.recordFailure(error, now: now)
        return self.passOnPlace()
    }

    /// A lease waiter gave up (timeout or cancellation); returns it if it was still waiting.
    mutating func abandonLease(id: UInt64) -> Waiter? {
        guard let index = self.leaseWaiters.firstIndex(where: { $0.id == id }) else { return nil }
        return self.leaseWaiters.remove(at: index).waiter
    }

    /// A leased connection comes back. `reusable` is false when its state is unknown or it is closed.
    mutating func release(_ connection: Connection, reusable: Bool, now: UInt64) -> ReturnDecision {
        if let next = self.leaseWaiters.popFirst() {
            if reusable, !self.isShutdown { return .handOver(next.waiter, .connection(connection), close: nil) }
            return .handOver(next.waiter, .open(connectionID: self.makeConnectionID()), close: connection)
        }
        guard reusable, !self.isShutdown else {
            self.dedicatedCount -= 1
            return .close(connection)
        }
        self.idle.append((connection, now))
        return .keep
    }

    /// Frees a place (a connection that could not be opened or was closed): the next waiter opens one in it.
    private mutating func passOnPlace() -> (Waiter, Grant)? {
        if let next = self.leaseWaiters.popFirst(), !self.isShutdown {
            return (next.waiter, .open(connectionID: self.makeConnectionID()))
        }
        self.dedicatedCount -= 1
        return nil
    }

    // MARK: Keep-alive

    /// Starts a keep-alive pass: closes idle connections past `idleLimit` (or already closed, per `isClosed`),
    /// and takes the other idle ones out of the idle list while they are checked. Returns the connections to
    /// close, the shared ones to check, and the dedicated ones to check (each to be finished with
    /// ``finishCheck(_:healthy:)``).
    mutating func beginKeepAlive(
        now: UInt64,
        idleLimit: UInt64,
        isClosed: (Connection) -> Bool
    ) -> (expired: [Connection], shared: [Connection], dedicated: [Connection]) {
        guard !self.isShutdown else { return ([], [], []) }
        var expired: [Connection] = []
        var dedicated: [Connection] = []
        for entry in self.idle {
            if now &- entry.since >= idleLimit || isClosed(entry.connection) {
                expired.append(entry.connection)
                self.dedicatedCount -= 1
            } else {
                dedicated.append(entry.connection)
                self.checking.append(entry)
            }
        }
        self.idle = []
        let shared = self.shared.compactMap { slot -> Connection? in
            if case .connected(let connection) = slot { return connection }
            return nil
        }
        return (expired, shared, dedicated)
    }

    /// A dedicated connection's keep-alive check finished: back to the idle list (or to a waiter) when healthy,
    /// closed when not.
    mutating func finishCheck(_ connection: Connection, healthy: Bool) -> ReturnDecision {
        guard let index = self.checking.firstIndex(where: { $0.connection === connection }) else {
            return .close(connection)
        }
        let entry = self.checking.remove(at: index)
        if healthy, !self.isShutdown {
            if let next = self.leaseWaiters.popFirst() {
                return .handOver(next.waiter, .connection(connection), close: nil)
            }
            // It keeps its idle age: a check is not use.
            self.idle.append(entry)
            return .keep
        }
        if let (waiter, grant) = self.passOnPlace() { return .handOver(waiter, grant, close: connection) }
        return .close(connection)
    }

    // MARK: Connect outcomes outside the pool, shutdown

    /// Records the outcome of a connection attempt made outside the pool (the subscriber's).
    mutating func recordConnectOutcome(_ error: RedisError?, now: UInt64) {
        if let error { self.backoff.recordFailure(error, now: now) } else { self.backoff.recordSuccess() }
    }

    /// The error a new connection attempt fails with now, if any.
    func connectRefusal(now: UInt64) -> RedisError? {
        self.isShutdown ? Self.shutdownError : self.backoff.refusal(now: now)
    }

    /// Refuses new work; returns the connections to drain and close and the waiters to fail.
    mutating func shutdown() -> (connections: [Connection], waiters: [Waiter]) {
        self.isShutdown = true
        var connections = self.idle.map(\.connection) + self.checking.map(\.connection)
        self.idle = []
        for slot in self.shared {
            if case .connected(let connection) = slot { connections.append(connection) }
        }
        self.shared = self.shared.map { _ in .empty }
        let waiters = self.leaseWaiters.map(\.waiter) + self.sharedWaiters.map(\.waiter)
        self.leaseWaiters = []
        self.sharedWaiters = []
        return (connections, waiters)
    }

    private mutating func makeConnectionID() -> Int {
        self.nextConnectionID += 1
        return self.nextConnectionID
    }
}
