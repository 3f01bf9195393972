import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import RedisClient

/// The pool's paths against a real server (through a pass-through ``FaultProxy`` where a stall is needed):
/// exhaustion, the lease timeout, waiters served in order, idle reaping, several shared connections, the
/// per-connection backlog caps and the cap on a whole reply. Connections are counted on the server.
@Suite struct RedisPoolTests {
    /// Holds the only dedicated connection of `client` until the returned function is called.
    private func holdTheOnlyLease(_ client: RedisClient) async -> (
        release: @Sendable () -> Void, done: Task<Void, any Error>
    ) {
        let (release, releaseNow) = AsyncStream<Void>.makeStream()
        let (leased, markLeased) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await client.withConnection { connection in
                markLeased.yield()
                var wait = release.makeAsyncIterator()
                await wait.next()
                try await connection.ping()
            }
        }
        var leasedEvents = leased.makeAsyncIterator()
        await leasedEvents.next()
        return ({ releaseNow.yield() }, holder)
    }

    @Test func aCallerWaitingPastTheLeaseTimeoutGivesUp() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.maxDedicatedConnections = 1
                $0.leaseTimeout = .milliseconds(300)
            }
            try await TestRedis.withClient(configuration) { client in
                let (release, holder) = await self.holdTheOnlyLease(client)
                do {
                    try await client.withConnection { connection in try await connection.ping() }
                    Issue.record("no connection was free")
                } catch let error as RedisError {
                    #expect(error.code == .leaseTimeout)
                }
                #expect(client.pool.waitingLeaseCount == 0)
                release()
                try await holder.value
                // The connection that was held is free again.
                try await client.withConnection { connection in try await connection.ping() }
                #expect(try await proxied.serverConnections().count == 1)
            }
        }
    }

    @Test func waitersForTheLastConnectionAreServedInTheOrderTheyCame() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.maxDedicatedConnections = 1
                $0.leaseTimeout = .seconds(60)
            }
            try await TestRedis.withClient(configuration) { client in
                let (release, holder) = await self.holdTheOnlyLease(client)
                let order = NIOLockedValueBox<[String]>([])
                func waiter(_ name: String) -> Task<Void, any Error> {
                    Task {
                        try await client.withConnection { connection in
                            order.withLockedValue { $0.append(name) }
                            try await connection.ping()
                        }
                    }
                }
                let first = waiter("first")
                #expect(try await waitUntil { client.pool.waitingLeaseCount == 1 })
                let second = waiter("second")
                #expect(try await waitUntil { client.pool.waitingLeaseCount == 2 })
                let third = waiter("third")
                #expect(try await waitUntil { client.pool.waitingLeaseCount == 3 })
                release()
                for task in [holder, first, second, third] { try await task.value }
                #expect(order.withLockedValue { $0 } == ["first", "second", "third"])
                #expect(try await proxied.serverConnections().count == 1, "one dedicated connection served everyone")
            }
        }
    }

    @Test func idleDedicatedConnectionsAreClosedAfterTheIdleTimeout() async throws {
        try await ProxiedServer.with { proxied in
            // Long enough that a loaded machine still runs the first pass while they are young.
            let configuration = try proxied.configuration { $0.idleTimeout = .seconds(3) }
            try await TestRedis.withClient(configuration) { client in
                // Two leases at once need two connections.
                async let one: Void = client.withConnection { connection in
                    _ = try await connection.send(RedisCommand("BLPOP", "nothing", "0.2"), timeout: .seconds(5))
                }
                async let two: Void = client.withConnection { connection in
                    _ = try await connection.send(RedisCommand("BLPOP", "nothing", "0.2"), timeout: .seconds(5))
                }
                _ = try await (one, two)
                #expect(try await proxied.serverConnections().count == 2)
                // Still young: a keep-alive pass checks them and keeps them.
                await client.pool.maintain()
                #expect(try await proxied.serverConnections().count == 2)
                try await Task.sleep(for: .milliseconds(3200))
                await client.pool.maintain()
                #expect(try await waitUntil { try await proxied.serverConnections().isEmpty })
            }
        }
    }

    @Test func commandsAreSpreadOverEverySharedConnection() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration { $0.multiplexedConnections = 3 }
            try await TestRedis.withClient(configuration) { client in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<30 { group.addTask { try await client.set("k\(index)", to: "\(index)") } }
                    try await group.waitForAll()
                }
                let connections = try await proxied.serverConnections()
                #expect(connections.count == 3)
                // Each of them carried commands (`cmd=` shows the last one; `tot-cmds` may not exist on 7.0).
                #expect(connections.allSatisfy { !$0.contains("cmd=NULL") })
            }
        }
    }

    /// A server that stops answering cannot make a connection queue without bound: past the cap, callers fail
    /// at once with `.overloaded`, and the queued ones complete once the server answers again.
    @Test func aConnectionRefusesWorkPastItsBacklogCap() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.maxPendingRequests = 5
                $0.commandTimeout = .seconds(30)
            }
            try await TestRedis.withClient(configuration) { client in
                try await client.set("k", to: "v")
                await proxied.proxy.setFault(.stall)
                let outcomes = NIOLockedValueBox<[RedisError.Code?]>([])
                let callers = (0..<10).map { _ in
                    Task {
                        do {
                            _ = try await client.get("k")
                            outcomes.withLockedValue { $0.append(nil) }
                        } catch let error as RedisError {
                            outcomes.withLockedValue { $0.append(error.code) }
                        }
                    }
                }
                #expect(try await waitUntil { outcomes.withLockedValue { $0.count } == 5 })
                #expect(outcomes.withLockedValue { $0 }.allSatisfy { $0 == .overloaded })
                await proxied.proxy.setFault(.pass)
                for caller in callers { try await caller.value }
                let all = outcomes.withLockedValue { $0 }
                #expect(all.filter { $0 == nil }.count == 5)
                #expect(all.filter { $0 == .overloaded }.count == 5)
            }
        }
    }

    /// The cap on a whole reply: an aggregate of bulk strings each within the bulk cap, together over the reply
    /// cap, fails that connection's callers and the connection is replaced.
    @Test func aReplyLargerThanTheReplyCapClosesTheConnectionAndTheNextCommandWorks() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.decoderLimits.maxReplyBytes = 64 * 1024
                $0.commandTimeout = .seconds(10)
            }
            try await TestRedis.withClient(configuration) { client in
                let value = String(repeating: "x", count: 20 * 1024)
                for index in 0..<5 { try await client.set("big\(index)", to: value) }
                do {
                    _ = try await client.send(RedisCommand("MGET", "big0", "big1", "big2", "big3", "big4"))
                    Issue.record("100 KiB in one reply is over the 64 KiB cap")
                } catch let error as RedisError {
                    #expect(error.code == .protocolViolation)
                    #expect(error.message.contains("maximum size"))
                }
                #expect(try await waitUntil { (try? await client.get("big0")) == value })
                #expect(
                    try await client.send(RedisCommand("MGET", "big0", "big1")).decode(as: [String].self).count == 2
                )
            }
        }
    }

    /// Defect: `HELLO` errors were classified by words inside the message ("anything containing AUTH").
    @Test func helloErrorsAreClassifiedByTheirPrefix() {
        func classify(_ message: String) -> RedisError {
            RedisConnection.classifyHelloError(RedisError(.server, message))
        }
        #expect(classify("WRONGPASS invalid username-password pair or user is disabled.").code == .authenticationFailed)
        #expect(
            classify("NOAUTH HELLO must be called with the client already authenticated").code == .authenticationFailed
        )
        #expect(classify("NOPERM User x has no permissions to run the 'hello' command").code == .authenticationFailed)
        #expect(classify("NOPROTO sorry, this protocol version is not supported").code == .unsupportedServer)
        #expect(classify("ERR unknown command 'HELLO', with args beginning with: '3'").code == .unsupportedServer)
        // A client mistake that mentions AUTH is not a wrong password.
        let syntax = classify("ERR Syntax error in HELLO option 'AUTH'")
        #expect(syntax.code == .server)
        #expect(syntax.serverErrorPrefix == "ERR")
        // A server that is loading is unavailable for now, worth retrying: not an authentication failure.
        let loading = classify("LOADING Redis is loading the dataset in memory (AUTH will work shortly)")
        #expect(loading.code == .server)
        #expect(loading.isUnavailability)
    }
}
