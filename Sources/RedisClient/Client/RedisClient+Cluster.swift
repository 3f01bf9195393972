import NIOCore

/// Routing on Redis Cluster: each command to the node that owns its keys' slot, redirections followed within the
/// caller's deadline, pipelines split by node.
extension RedisClient {
    /// The most redirections one command follows before the client gives up (a map that keeps changing).
    static let maxRedirections = 16

    /// Sends one command to the node that owns its slot; follows `MOVED` and `ASK`, and waits out `TRYAGAIN`,
    /// `CLUSTERDOWN` and a node that cannot be reached (a failover in progress) until the deadline. A command whose
    /// connection closed after it was written is not sent again: it may have run. With `readFrom` (the configuration's
    /// ``RedisConfiguration/readFrom`` when nil) ``RedisConfiguration/ReadFrom/replicaPreferred``, an allow-listed read
    /// is first tried on a replica.
    func send(
        _ command: RedisCommand,
        timeout: Duration?,
        on cluster: ClusterRouter,
        asking initialAsk: RedisEndpoint?,
        movedTo initialMove: RedisEndpoint? = nil,
        readFrom: RedisConfiguration.ReadFrom? = nil
    ) async throws -> RESPValue {
        if command.keysSpanSlots { throw RedisError.crossSlot(command) }
        let deadline = ContinuousClock.now.advanced(by: timeout ?? self.configuration.commandTimeout ?? .seconds(5))
        var asking = initialAsk
        // Where a command that records no keys was redirected: the map cannot route it there by itself.
        var movedTo = initialMove
        var redirections = 0
        var waits = 0
        if initialAsk == nil, initialMove == nil, (readFrom ?? self.configuration.readFrom) == .replicaPreferred,
            let slot = command.slot, command.isReadOnly,
            let reply = try await self.readFromReplica(command, slot: slot, until: deadline, on: cluster)
        {
            return reply
        }
        while true {
            let target: RedisEndpoint
            if let asking {
                target = asking
            } else if let movedTo, command.slot == nil {
                target = movedTo
            } else if let owner = try await cluster.endpoint(for: command.slot) {
                target = owner
            } else {
                waits += 1
                try await Self.wait(waits, until: deadline, after: Self.uncovered(command))
                await cluster.refresh(force: false)
                continue
            }
            let remaining = deadline - ContinuousClock.now
            do {
                let connection = try await cluster.pool(for: target).sharedConnection()
                if asking != nil {
                    let replies = try await connection.pipeline([RedisCommand("ASKING"), command], timeout: remaining)
                    if let error = RedisError.fromReply(replies[1]) { throw error }
                    return replies[1]
                }
                return try await connection.send(command, timeout: remaining)
            } catch let error as RedisError {
                asking = nil
                switch ClusterRedirection(error, answeredBy: target) {
                case .moved(let slot, let endpoint):
                    redirections += 1
                    guard redirections <= Self.maxRedirections else { throw error }
                    cluster.moved(slot, to: endpoint)
                    movedTo = endpoint
                case .ask(_, let endpoint):
                    redirections += 1
                    guard redirections <= Self.maxRedirections else { throw error }
                    cluster.redirections.add(1, ordering: .relaxed)
                    asking = endpoint
                case .retryLater:
                    waits += 1
                    try await Self.wait(waits, until: deadline, after: error)
                case nil:
                    guard Self.wasNotSent(error) else {
                        if error.code == .connectionClosed { cluster.refreshSoon() }
                        throw error
                    }
                    waits += 1
                    cluster.refreshSoon()
                    try await Self.wait(waits, until: deadline, after: error)
                    await cluster.refresh(force: false)
                }
            }
        }
    }

    /// One attempt to serve a read-only command on a replica of `slot`'s shard (connected with `READONLY`), given at
    /// most half of the time left so the primary can still answer. Nil when the shard has no replica or the replica
    /// did not serve it (unreachable, `MOVED` because it no longer replicates the slot, `LOADING`, any error reply):
    /// the caller then sends the command to the primary. A read runs nothing, so asking again is always safe.
    private func readFromReplica(
        _ command: RedisCommand,
        slot: HashSlot,
        until deadline: ContinuousClock.Instant,
        on cluster: ClusterRouter
    ) async throws -> RESPValue? {
        _ = try await cluster.endpoint(for: slot)  // learns the map on first use
        guard let replica = cluster.replica(for: slot) else { return nil }
        let budget = (deadline - ContinuousClock.now) / 2
        guard budget > .zero else { return nil }
        do {
            let connection = try await cluster.replicaPool(for: replica).sharedConnection()
            let reply = try await connection.send(command, timeout: budget)
            cluster.replicaReads.add(1, ordering: .relaxed)
            return reply
        } catch let error as RedisError {
            cluster.replicaFallbacks.add(1, ordering: .relaxed)
            if error.code != .server || ClusterRedirection(error, answeredBy: replica) != nil {
                // Unreachable, or no longer serving the slot: the map may be stale.
                cluster.refreshSoon()
            }
            return nil
        }
    }

    /// Splits the commands by node, sends each node's share as one pipeline (all nodes at once) and returns the
    /// replies in the caller's order. A command a node redirects is sent again on its own, following the redirection.
    func pipeline(
        _ commands: [RedisCommand],
        timeout: Duration?,
        on cluster: ClusterRouter
    ) async throws -> [Result<RESPValue, RedisError>] {
        var results = [Result<RESPValue, RedisError>?](repeating: nil, count: commands.count)
        var batches: [RedisEndpoint: [Int]] = [:]
        var alone: [Int] = []
        for (index, command) in commands.enumerated() {
            if command.keysSpanSlots {
                results[index] = .failure(RedisError.crossSlot(command))
            } else if let endpoint = try await cluster.endpoint(for: command.slot) {
                batches[endpoint, default: []].append(index)
            } else {
                alone.append(index)
            }
        }
        let outcomes = await withTaskGroup(of: (RedisEndpoint, [Int], Result<[RESPValue], RedisError>).self) { group in
            for (endpoint, indices) in batches {
                group.addTask {
                    do {
                        let connection = try await cluster.pool(for: endpoint).sharedConnection()
                        let replies = try await connection.pipeline(indices.map { commands[$0] }, timeout: timeout)
                        return (endpoint, indices, .success(replies))
                    } catch {
                        return (endpoint, indices, .failure(RedisConnectionPool.asRedisError(error)))
                    }
                }
            }
            var outcomes: [(RedisEndpoint, [Int], Result<[RESPValue], RedisError>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        var resend: [(index: Int, asking: RedisEndpoint?, movedTo: RedisEndpoint?)] = alone.map { ($0, nil, nil) }
        for (endpoint, indices, outcome) in outcomes {
            switch outcome {
            case .success(let replies):
                for (position, index) in indices.enumerated() {
                    guard let error = RedisError.fromReply(replies[position]) else {
                        results[index] = .success(replies[position])
                        continue
                    }
                    switch ClusterRedirection(error, answeredBy: endpoint) {
                    case .moved(let slot, let owner):
                        cluster.moved(slot, to: owner)
                        resend.append((index, nil, owner))
                    case .ask(_, let owner):
                        cluster.redirections.add(1, ordering: .relaxed)
                        resend.append((index, owner, nil))
                    case .retryLater:
                        resend.append((index, nil, nil))
                    case nil:
                        results[index] = .failure(error)
                    }
                }
            case .failure(let error):
                // Nothing of this batch was sent when the node could not be reached: send each again, routed
                // afresh. A batch whose connection closed under it may have run in part: like a single server's
                // pipeline, that is the caller's error.
                guard Self.wasNotSent(error) else { throw error }
                cluster.refreshSoon()
                resend.append(contentsOf: indices.map { ($0, nil, nil) })
            }
        }
        for entry in resend.sorted(by: { $0.index < $1.index }) {
            let index = entry.index
            do {
                results[index] = .success(
                    try await self.send(
                        commands[index],
                        timeout: timeout,
                        on: cluster,
                        asking: entry.asking,
                        movedTo: entry.movedTo,
                        readFrom: .primary  // a pipeline's commands all go to primaries
                    )
                )
            } catch let error as RedisError where error.code == .server || error.code == .crossSlot {
                results[index] = .failure(error)
            }
        }
        return results.map { $0! }
    }

    /// `MULTI`/`EXEC` on the node that owns the commands' one slot. Keys in different slots are refused before
    /// anything is sent. A transaction Redis refused while queueing because the slot moved (`EXECABORT` after
    /// `MOVED`) ran nothing, so it is sent again to the new owner.
    func transaction(
        _ commands: [RedisCommand],
        on cluster: ClusterRouter
    ) async throws -> [Result<RESPValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        var slot: HashSlot?
        for command in commands {
            if command.keysSpanSlots { throw RedisError.crossSlot(command) }
            guard let commandSlot = command.slot else { continue }
            if let slot, slot != commandSlot {
                throw RedisError(
                    .crossSlot,
                    "a transaction's keys must share one hash slot on a cluster (\(command.name) is in slot "
                        + "\(commandSlot), an earlier command in slot \(slot)); give them one hash tag"
                )
            }
            slot = commandSlot
        }
        let deadline = ContinuousClock.now.advanced(by: self.configuration.commandTimeout ?? .seconds(5))
        var attempts = 0
        while true {
            attempts += 1
            guard let target = try await cluster.endpoint(for: slot) else {
                try await Self.wait(attempts, until: deadline, after: Self.uncovered(commands[0]))
                await cluster.refresh(force: false)
                continue
            }
            do {
                let connection = try await cluster.pool(for: target).sharedConnection()
                return try await connection.transaction(commands)
            } catch let error as RedisError {
                let reason = RedisError(.server, error.message)
                switch error.code == .transactionAborted ? ClusterRedirection(reason, answeredBy: target) : nil {
                case .moved(let movedSlot, let owner):
                    guard attempts <= Self.maxRedirections else { throw error }
                    cluster.moved(movedSlot, to: owner)
                case .ask, .retryLater:
                    // The slot is being migrated: wait until it has moved.
                    try await Self.wait(attempts, until: deadline, after: error)
                    await cluster.refresh(force: false)
                case nil:
                    guard Self.wasNotSent(error) else { throw error }
                    cluster.refreshSoon()
                    try await Self.wait(attempts, until: deadline, after: error)
                    await cluster.refresh(force: false)
                }
            }
        }
    }

    /// Every key matching `pattern`, fetched with `SCAN` in steps (never `KEYS`), passed to `body` batch by batch; on
    /// a cluster, every primary is scanned in turn. A key may be reported more than once if the keyspace changes
    /// during the scan (or a slot moves), as with `SCAN` itself.
    /// - Parameters:
    ///   - pattern: The glob pattern.
    ///   - count: The `COUNT` hint per step.
    ///   - body: Called with each non-empty batch.
    public func scanKeys(
        matching pattern: String,
        count: Int = 500,
        _ body: ([String]) async throws -> Void
    ) async throws {
        guard let cluster = self.cluster else {
            let commands: any RedisCommands = self
            return try await commands.scanKeys(matching: pattern, count: count, body)
        }
        for endpoint in await cluster.primaries() {
            let connection = try await cluster.pool(for: endpoint).sharedConnection()
            try await connection.scanKeys(matching: pattern, count: count, body)
        }
    }

    /// One `SCAN` step. On a cluster a cursor belongs to one node, so a single step cannot walk the keyspace: it is
    /// refused with ``RedisError/Code/crossSlot``; use ``scanKeys(matching:count:_:)``, which visits every primary.
    public func scan(
        cursor: String = "0",
        matching pattern: String? = nil,
        count: Int? = nil,
        type: String? = nil
    ) async throws -> (cursor: String, keys: [String]) {
        guard self.cluster == nil else {
            throw RedisError(
                .crossSlot,
                "SCAN walks one node's keys; on a cluster use scanKeys, which visits every primary"
            )
        }
        let commands: any RedisCommands = self
        return try await commands.scan(cursor: cursor, matching: pattern, count: count, type: type)
    }

    /// `SCRIPT EXISTS sha...`; on a cluster a script counts as cached only when every primary has it.
    /// - Parameter scripts: The scripts.
    /// - Returns: Whether each is cached.
    public func scriptExists(_ scripts: [RedisScript]) async throws -> [Bool] {
        guard let cluster = self.cluster else {
            let commands: any RedisCommands = self
            return try await commands.scriptExists(scripts)
        }
        var cached = [Bool](repeating: true, count: scripts.count)
        for endpoint in await cluster.primaries() {
            let connection = try await cluster.pool(for: endpoint).sharedConnection()
            let here = try await connection.scriptExists(scripts)
            for index in cached.indices { cached[index] = cached[index] && here[index] }
        }
        return cached
    }

    /// `SCRIPT LOAD source`; on a cluster, on every primary (a script cached on one node is unknown to the others,
    /// and a pipeline of `EVALSHA` goes to all of them).
    /// - Parameter script: The script.
    /// - Returns: The SHA-1 the server computed.
    @discardableResult
    public func scriptLoad(_ script: RedisScript) async throws -> String {
        guard let cluster = self.cluster else {
            let commands: any RedisCommands = self
            return try await commands.scriptLoad(script)
        }
        var sha1 = script.sha1
        for endpoint in await cluster.primaries() {
            let connection = try await cluster.pool(for: endpoint).sharedConnection()
            sha1 = try await connection.scriptLoad(script)
        }
        return sha1
    }

    /// The pool a dedicated connection comes from: the only one, or the pool of the node that owns `slot`.
    func dedicatedPool(for slot: HashSlot?) async throws -> RedisConnectionPool {
        if let sentinel = self.sentinel { return try await sentinel.currentPool() }
        guard let cluster = self.cluster else { return self.pool }
        let deadline = ContinuousClock.now.advanced(by: self.configuration.leaseTimeout)
        var attempts = 0
        while true {
            attempts += 1
            if let endpoint = try await cluster.endpoint(for: slot) { return cluster.pool(for: endpoint) }
            try await Self.wait(
                attempts,
                until: deadline,
                after: RedisError(.clusterUnavailable, "no cluster node serves slot \(slot.map(String.init) ?? "-")")
            )
            await cluster.refresh(force: false)
        }
    }

    /// Runs `body` with the pool of the one server: the only one, or with Sentinel the current primary. With Sentinel,
    /// a primary that cannot be reached or answers `READONLY` (it was demoted) makes the client ask the sentinels
    /// again, and work that was not sent is retried on the new primary within the timeout.
    func onPrimary<T>(
        timeout: Duration?,
        _ body: (RedisConnectionPool) async throws -> T
    ) async throws -> T {
        guard let sentinel = self.sentinel else { return try await body(self.pool) }
        let deadline = ContinuousClock.now.advanced(by: timeout ?? self.configuration.commandTimeout ?? .seconds(5))
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await body(try await sentinel.currentPool())
            } catch let error as RedisError {
                let readOnly = error.serverErrorPrefix == "READONLY"
                guard Self.wasNotSent(error) || error.code == .clusterUnavailable || readOnly else {
                    if error.code == .connectionClosed { sentinel.primaryFailed() }
                    throw error
                }
                sentinel.primaryFailed()
                try await Self.wait(attempts, until: deadline, after: error)
                await sentinel.discover(force: false)
            }
        }
    }

    /// True when the command never left the client: no connection could be made, so sending it again is safe.
    static func wasNotSent(_ error: RedisError) -> Bool {
        error.code == .connectionUnavailable || error.code == .connectTimeout
    }

    /// Sleeps before retry number `attempt` (10 ms doubling to 640 ms, with jitter), or throws `error` wrapped as
    /// ``RedisError/Code/clusterUnavailable`` when the deadline would pass first.
    static func wait(_ attempt: Int, until deadline: ContinuousClock.Instant, after error: RedisError) async throws {
        let base = Duration.milliseconds(10 << min(attempt - 1, 6))
        let delay = base / 2 + base / 2 * Double.random(in: 0...1)
        guard ContinuousClock.now.advanced(by: delay) < deadline else {
            if error.code == .server || error.code == .clusterUnavailable {
                throw RedisError(.clusterUnavailable, "the cluster did not serve the command in time: \(error.message)")
            }
            throw error
        }
        try await Task.sleep(for: delay)
    }

    private static func uncovered(_ command: RedisCommand) -> RedisError {
        RedisError(.clusterUnavailable, "no cluster node serves slot \(command.slot.map(String.init) ?? "-") now")
    }
}

extension RedisError {
    /// The error for a command whose keys are in different hash slots.
    static func crossSlot(_ command: RedisCommand) -> RedisError {
        RedisError(
            .crossSlot,
            "\(command.name): keys in different hash slots cannot be used together on a cluster; give them one hash tag"
        )
    }
}
