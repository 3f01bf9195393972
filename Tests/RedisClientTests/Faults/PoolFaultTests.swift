import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import RedisClient

/// Shared and leased connections under stalls, partitions and servers that never answer, through a
/// ``FaultProxy`` in front of a private `redis-server`. Time bounds here are guarantees (a caller never waits
/// past its timeout), checked with a generous margin for a loaded machine; nothing here measures speed.
@Suite struct PoolFaultTests {
    /// How late past its timeout a caller may be told: timer granularity (≤ 100 ms) plus the scheduling delays of
    /// a loaded machine (a full parallel run on two cores stalls tasks by a second or more). The defects these
    /// tests catch make callers wait for minutes or forever, far past this.
    private static let margin: Duration = .seconds(3)

    @Test func withNoCommandTimeoutAServerThatNeverAnswersStillFailsCallersInTime() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.commandTimeout = nil
                $0.connectTimeout = .milliseconds(500)
            }
            try await TestRedis.withClient(configuration) { client in
                // TCP is accepted, HELLO is never answered: the connect timeout still applies.
                await proxied.proxy.setFault(.stall)
                let started = ContinuousClock.now
                let connect = await finishing(within: .seconds(10)) { try await client.ping() }
                guard let connect else {
                    Issue.record("a caller waited 10 s for a HELLO that never comes")
                    return
                }
                #expect(ContinuousClock.now - started < .milliseconds(500) + Self.margin)
                #expect((connect.failure as? RedisError)?.code == .connectTimeout)

                // A caller waiting behind a connection that is being opened can be cancelled.
                await proxied.proxy.setFault(.pass)
                try await waitUntilConnected(client)
                await proxied.proxy.setFault(.stall)
                // A per-call timeout holds although the configuration sets none.
                let perCall = await finishing(within: .seconds(10)) {
                    try await client.send(RedisCommand("PING"), timeout: .milliseconds(300))
                }
                #expect(perCall != nil, "a per-call timeout must hold with commandTimeout = nil")
                #expect((perCall?.failure as? RedisError)?.code == .commandTimeout)
            }
        }
    }

    @Test func aCallerWaitingForAConnectionBeingOpenedCanBeCancelled() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration { $0.connectTimeout = .seconds(30) }
            try await TestRedis.withClient(configuration) { client in
                await proxied.proxy.setFault(.stall)
                let first = Task { try await client.ping() }
                #expect(try await waitUntil { proxied.proxy.acceptedCount == 1 })
                // A second caller waits for the same connection to open.
                let second = Task { try await client.ping() }
                try await Task.sleep(for: .milliseconds(50))
                second.cancel()
                let outcome = await finishing(within: .seconds(5)) { try await second.value }
                #expect(outcome != nil, "a cancelled caller must not wait for a 30 s connect")
                #expect(outcome?.failure is CancellationError)
                first.cancel()
                await proxied.proxy.setFault(.pass)
                _ = try? await first.value
            }
        }
    }

    /// The keep-alive check must never send its PING on a connection a caller leased in the meantime: a PING
    /// queued behind a long `BLPOP` times out and the check would close the connection under the caller.
    @Test func theKeepAliveCheckNeverTouchesALeasedConnection() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration { $0.commandTimeout = .seconds(1) }
            try await TestRedis.withClient(configuration) { client in
                try await client.ping()  // the shared connection: proxied connection 0
                try await client.withConnection { connection in try await connection.ping() }  // 1, now idle
                #expect(proxied.proxy.acceptedCount == 2)

                // The check's PING on the shared connection hangs until its timeout; meanwhile a caller leases.
                await proxied.proxy.setFault(.stall, connection: 0)
                let shared = try await client.pool.sharedConnection()
                let keepAlive = Task { await client.pool.maintain() }
                #expect(try await waitUntil { shared.inFlightCount == 1 })
                let reply = try await client.withConnection { connection in
                    try await connection.send(RedisCommand("BLPOP", "nothing", "3"), timeout: .seconds(6))
                }
                #expect(reply == .null)
                await keepAlive.value
            }
        }
    }

    @Test func aStallOfTwiceTheCommandTimeoutHoldsNoCallerPastItsTimeoutAndThePoolRecovers() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration { $0.commandTimeout = .milliseconds(500) }
            try await TestRedis.withClient(configuration) { client in
                try await client.set("k", to: "v")
                await proxied.proxy.setFault(.stall)
                let waits = try await withThrowingTaskGroup(of: (Duration, RedisError.Code?).self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            let started = ContinuousClock.now
                            do {
                                _ = try await client.get("k")
                                return (ContinuousClock.now - started, nil)
                            } catch let error as RedisError {
                                return (ContinuousClock.now - started, error.code)
                            }
                        }
                    }
                    var waits: [(Duration, RedisError.Code?)] = []
                    for try await wait in group { waits.append(wait) }
                    return waits
                }
                #expect(waits.allSatisfy { $0.1 == .commandTimeout })
                #expect(waits.allSatisfy { $0.0 < .milliseconds(500) + Self.margin })
                try await Task.sleep(for: .milliseconds(500))  // the stall lasts twice the command timeout
                await proxied.proxy.setFault(.pass)
                #expect(try await waitUntil { (try? await client.get("k")) == "v" })
            }
        }
    }

    @Test func aPartitionUnderLoadFailsCallersWithinTheirTimeoutAndThePoolRecovers() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration {
                $0.commandTimeout = .milliseconds(500)
                $0.connectTimeout = .milliseconds(500)
                $0.multiplexedConnections = 2
            }
            try await TestRedis.withClient(configuration) { (client: RedisClient) async throws -> Void in
                let partitioned = PartitionLoad()
                let workers = (0..<8).map { worker in
                    Task<Void, Never> {
                        var index = 0
                        while !Task.isCancelled {
                            index += 1
                            let started = ContinuousClock.now
                            do {
                                try await client.set("w\(worker)", to: "\(index)")
                                partitioned.succeeded()
                            } catch {
                                if Task.isCancelled { break }  // the test ended the worker
                                let code = (error as? RedisError)?.code ?? .unexpectedReply
                                partitioned.failed(code, after: ContinuousClock.now - started)
                                try? await Task.sleep(for: .milliseconds(10))
                            }
                        }
                    }
                }
                #expect(try await waitUntil { partitioned.successes >= 100 })
                await proxied.proxy.setFault(.blackholeBoth)
                #expect(try await waitUntil { partitioned.failures >= 20 })
                await proxied.proxy.setFault(.pass)
                let healed = partitioned.successes
                #expect(try await waitUntil { partitioned.successes >= healed + 100 })
                for worker in workers { worker.cancel() }
                for worker in workers { await worker.value }
                // A call may wait for a connection to open (connect timeout), then for its reply (command timeout).
                #expect(partitioned.longestFailure < .milliseconds(500) + .milliseconds(500) + Self.margin)
                let codes = partitioned.codes
                #expect(
                    codes.isSubset(of: [.commandTimeout, .connectTimeout, .connectionClosed, .connectionUnavailable])
                )
                // The partitioned connections were replaced, not kept: what is open is what the pool allows.
                #expect(try await waitUntil { (try? await proxied.serverConnections().count) ?? 99 <= 2 })
            }
        }
    }

    /// State a lessee left behind (`SELECT`, `WATCH`, `CLIENT TRACKING`) never reaches the next lessee.
    @Test func aLeasedConnectionsStateDoesNotLeakToTheNextLessee() async throws {
        try await ProxiedServer.with { proxied in
            try await TestRedis.withClient(try proxied.configuration()) { client in
                try await client.withConnection { connection in
                    _ = try await connection.send(RedisCommand("SELECT", "5"))
                    _ = try await connection.send(RedisCommand("WATCH", "watched"))
                    _ = try await connection.send(RedisCommand("CLIENT", "TRACKING", "ON"))
                }
                // The watched key (in database 5, where the WATCH was made) changes.
                try await proxied.server.cli(["-n", "5", "SET", "watched", "changed"])
                let results = try await client.withConnection { connection in
                    let tracking = try await connection.send(RedisCommand("CLIENT", "TRACKINGINFO"))
                    let results = try await connection.transaction([RedisCommand("SET", "where", "db0")])
                    return (tracking, results)
                }
                #expect(results.1.count == 1, "a WATCH left by the previous lessee must not abort this transaction")
                var flags: [String] = []
                if case .map(let entries) = results.0,
                    case .set(let values) = entries.first(where: { $0.key.stringValue == "flags" })?.value
                {
                    flags = values.compactMap(\.stringValue)
                }
                #expect(flags == ["off"], "tracking must be off for the next lessee")
                #expect(try await proxied.server.cli(["-n", "0", "GET", "where"]).contains("db0"))
                #expect(!(try await proxied.server.cli(["-n", "5", "GET", "where"]).contains("db0")))
            }
        }
    }

    private func waitUntilConnected(_ client: RedisClient) async throws {
        #expect(try await waitUntil { (try? await client.ping()) != nil })
    }
}

/// What the workers of a partition test saw.
private final class PartitionLoad: Sendable {
    private struct Counts {
        var successes = 0
        var failures = 0
        var longestFailure: Duration = .zero
        var codes: Set<RedisError.Code> = []
    }

    private let counts = NIOLockedValueBox(Counts())

    func succeeded() { self.counts.withLockedValue { $0.successes += 1 } }

    func failed(_ code: RedisError.Code, after wait: Duration) {
        self.counts.withLockedValue { counts in
            counts.failures += 1
            counts.longestFailure = max(counts.longestFailure, wait)
            counts.codes.insert(code)
        }
    }

    var successes: Int { self.counts.withLockedValue { $0.successes } }
    var failures: Int { self.counts.withLockedValue { $0.failures } }
    var longestFailure: Duration { self.counts.withLockedValue { $0.longestFailure } }
    var codes: Set<RedisError.Code> { self.counts.withLockedValue { $0.codes } }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
