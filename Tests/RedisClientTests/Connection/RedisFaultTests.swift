import Foundation
import Logging
import NIOCore
import Testing

@testable import RedisClient

/// Faults against real redis-server processes of the tests' own: killed connections, a server that stops and
/// comes back, a server that stalls, bad credentials and limited ACL users.
@Suite struct RedisFaultTests {
    private func configuration(
        _ server: RedisTestServer,
        _ adjust: (inout RedisConfiguration) -> Void = { _ in }
    ) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(5)
        configuration.connectTimeout = .seconds(2)
        configuration.initialReconnectDelay = .milliseconds(20)
        configuration.maxReconnectDelay = .milliseconds(200)
        adjust(&configuration)
        return configuration
    }

    private func withServer(_ arguments: [String] = [], _ body: (RedisTestServer) async throws -> Void) async throws {
        let server = try await RedisTestServer.start(arguments)
        do {
            try await body(server)
            await server.destroy()
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// Retries `body` until it succeeds or `attempts` run out (for waiting out a reconnect backoff).
    private func eventually<T>(attempts: Int = 200, _ body: () async throws -> T) async throws -> T {
        var lastError: (any Error)?
        for _ in 0..<attempts {
            do { return try await body() } catch { lastError = error }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw lastError!
    }

    /// Waits until the server shows client `id` blocked in `BLPOP` (instead of sleeping and hoping it is).
    private func isBlocked(_ id: Int, on server: RedisTestServer) async throws -> Bool {
        try await waitUntil {
            let line = try await server.cli(["CLIENT", "LIST", "ID", "\(id)"])
            return line.contains("cmd=blpop") && line.contains("flags=b")
        }
    }

    @Test func killedSharedConnectionFailsItsInFlightCommandAndTheClientReconnects() async throws {
        try await self.withServer { server in
            try await TestRedis.withClient(try self.configuration(server)) { client in
                try await client.set("k", to: "v")
                let sharedID = try await client.clientID()
                // A command in flight on the shared connection when it is killed (sent as a plain command, so it
                // deliberately occupies the shared connection).
                let inFlight = Task { try await client.send(RedisCommand("BLPOP", "never-pushed", "10")) }
                #expect(try await self.isBlocked(sharedID, on: server))
                let killed = try await server.cli(["CLIENT", "KILL", "ID", "\(sharedID)"])
                #expect(killed.contains("1"))
                do {
                    _ = try await inFlight.value
                    Issue.record("the in-flight command should fail")
                } catch let error as RedisError {
                    #expect(error.code == .connectionClosed)
                }
                // The next commands reconnect on their own.
                #expect(try await self.eventually { try await client.get("k") } == "v")
                #expect(try await client.clientID() != sharedID)
            }
        }
    }

    @Test func killedDedicatedConnectionLeavesOtherCallersUnaffected() async throws {
        try await self.withServer { server in
            try await TestRedis.withClient(try self.configuration(server)) { client in
                try await client.set("k", to: "v")
                let idBox = AsyncStream<Int>.makeStream()
                let blocked = Task {
                    try await client.withConnection { connection in
                        idBox.continuation.yield(try await connection.clientID())
                        return try await connection.send(RedisCommand("BLPOP", "never-pushed", "10"))
                    }
                }
                var iterator = idBox.stream.makeAsyncIterator()
                let dedicatedID = try #require(await iterator.next())
                #expect(try await self.isBlocked(dedicatedID, on: server))
                // Traffic on the shared connection while the other one is killed.
                async let reads = (0..<200).asyncMap { _ in try await client.get("k") }
                try await server.cli(["CLIENT", "KILL", "ID", "\(dedicatedID)"])
                await #expect(throws: RedisError.self) { try await blocked.value }
                #expect(try await reads.allSatisfy { $0 == "v" })
                // A new dedicated connection replaces the killed one.
                let reply = try await client.blpop(["empty-list"], timeout: .milliseconds(50))
                #expect(reply == nil)
            }
        }
    }

    @Test func serverStopAndStartFailsFastWhileDownAndRecovers() async throws {
        try await self.withServer { server in
            try await TestRedis.withClient(try self.configuration(server)) { client in
                try await client.set("k", to: "before")
                await server.stop()

                // While down: the first command finds the connection gone or cannot connect; after one failed
                // connect the client backs off and refuses at once without trying again.
                var codes: [RedisError.Code] = []
                for _ in 0..<5 {
                    do {
                        _ = try await client.get("k")
                        Issue.record("no command can succeed while the server is down")
                    } catch let error as RedisError {
                        codes.append(error.code)
                    }
                }
                #expect(codes.allSatisfy { [.connectionClosed, .connectionUnavailable, .connectTimeout].contains($0) })
                #expect(codes.contains(.connectionUnavailable))

                try await server.launch()
                // The data was not persisted (--save ''), so the key is gone; what matters is that commands work.
                try await self.eventually { try await client.set("k", to: "after") }
                #expect(try await client.get("k") == "after")
            }
        }
    }

    @Test func subscriptionsResumeAfterARestartAndReportTheGap() async throws {
        try await self.withServer { server in
            try await TestRedis.withClient(try self.configuration(server)) { client in
                try await client.subscribe(to: ["news"]) { subscription in
                    var events = subscription.makeAsyncIterator()
                    try await client.publish("one", to: "news")
                    #expect(
                        try await events.next()
                            == .message(
                                RedisPubSubMessage(channel: "news", pattern: nil, payload: ByteBuffer(string: "one"))
                            )
                    )

                    await server.stop()
                    try await server.launch()
                    // The reconnect re-subscribes and then reports the gap; only then can a publish be received.
                    let gap = try await events.next()
                    #expect(gap == .gap(RedisSubscriptionGap(reason: .reconnected)))
                    let receivers = try await self.eventually { try await client.publish("two", to: "news") }
                    #expect(receivers == 1)
                    #expect(
                        try await events.next()
                            == .message(
                                RedisPubSubMessage(channel: "news", pattern: nil, payload: ByteBuffer(string: "two"))
                            )
                    )
                }
                // Leaving the scope unsubscribed: nobody listens on the server any more.
                let numsub = try await client.send(RedisCommand("PUBSUB", "NUMSUB", "news"))
                #expect(try numsub.decode(as: [RESPValue].self).last == .number(0))
            }
        }
    }

    /// A command whose reply comes after its timeout fails only that caller; the late reply is read and thrown
    /// away on the same connection (the server's client id proves it was not replaced), and the next command on
    /// that connection gets its own reply, not the late one.
    @Test func commandTimeoutFailsOnlyThatCallerAndTheLateReplyIsDiscarded() async throws {
        try await self.withServer { server in
            // The connection is only declared dead when its oldest reply is 3 s overdue, far beyond the 0.5 s sleep.
            let configuration = try self.configuration(server) { $0.commandTimeout = .seconds(3) }
            try await TestRedis.withClient(configuration) { client in
                try await client.set("k", to: "value")
                let before = try await client.clientID()
                do {
                    _ = try await client.send(RedisCommand("DEBUG", "SLEEP", "0.5"), timeout: .milliseconds(100))
                    Issue.record("DEBUG SLEEP 0.5 must exceed a 100 ms timeout")
                } catch let error as RedisError {
                    #expect(error.code == .commandTimeout)
                }
                // Queued behind the sleeping command on the same connection: it gets "value", not the late "OK".
                #expect(try await client.get("k") == "value")
                #expect(try await client.clientID() == before, "the same connection, not a reconnect")
            }
        }
    }

    @Test func wrongPasswordIsAnAuthenticationError() async throws {
        try await self.withServer(["--requirepass", "right-password"]) { server in
            let wrong = try self.configuration(server) { $0.password = "wrong-password" }
            try await TestRedis.withClient(wrong) { client in
                do {
                    try await client.ping()
                    Issue.record("a wrong password must be refused")
                } catch let error as RedisError {
                    #expect(error.code == .authenticationFailed)
                    #expect(!"\(error)".contains("wrong-password"))
                }
            }
            let missing = try self.configuration(server)
            try await TestRedis.withClient(missing) { client in
                await #expect(throws: RedisError.self) { try await client.ping() }
            }
            let right = try RedisConfiguration(url: "redis://:right-password@127.0.0.1:\(server.port)/0")
            try await TestRedis.withClient(right) { client in
                try await client.ping()
            }
        }
    }

    @Test func aclUserWithLimitedRights() async throws {
        try await self.withServer { server in
            let created = try await server.cli([
                "ACL", "SETUSER", "reader", "on", ">reader-pass", "~allowed:*", "+@connection", "+get", "+set",
            ])
            #expect(created.contains("OK"))
            let configuration = try RedisConfiguration(url: "redis://reader:reader-pass@127.0.0.1:\(server.port)/0")
            try await TestRedis.withClient(configuration) { client in
                try await client.set("allowed:x", to: "1")
                #expect(try await client.get("allowed:x") == "1")
                do {
                    try await client.set("forbidden:x", to: "1")
                    Issue.record("the ACL forbids this key")
                } catch let error as RedisError {
                    #expect(error.code == .server)
                    #expect(error.serverErrorPrefix == "NOPERM")
                }
                do {
                    _ = try await client.delete("allowed:x")
                    Issue.record("the ACL forbids DEL")
                } catch let error as RedisError {
                    #expect(error.serverErrorPrefix == "NOPERM")
                }
                // Refusals do not hurt the connection.
                #expect(try await client.get("allowed:x") == "1")
            }
            let badUser = try RedisConfiguration(url: "redis://reader:nope@127.0.0.1:\(server.port)/0")
            try await TestRedis.withClient(badUser) { client in
                await #expect(throws: RedisError.self) { try await client.ping() }
            }
        }
    }

    @Test func selectsTheConfiguredDatabase() async throws {
        try await self.withServer { server in
            let db3 = try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)/3")
            try await TestRedis.withClient(db3) { client in try await client.set("where", to: "db3") }
            #expect(try await server.cli(["-n", "3", "GET", "where"]).contains("db3"))
            #expect(!(try await server.cli(["-n", "0", "GET", "where"]).contains("db3")))
            let outOfRange = try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)/99")
            try await TestRedis.withClient(outOfRange) { client in
                do {
                    try await client.ping()
                    Issue.record("database 99 does not exist")
                } catch let error as RedisError {
                    #expect(error.code == .invalidConfiguration)
                }
            }
        }
    }

    @Test func connectionRefusedIsReportedAsUnavailable() async throws {
        // A port nothing listens on.
        let server = try await RedisTestServer.start()
        let port = server.port
        await server.destroy()
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0")
        try await TestRedis.withClient(configuration) { client in
            do {
                try await client.ping()
                Issue.record("nothing listens there")
            } catch let error as RedisError {
                #expect(error.code == .connectionUnavailable)
            }
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T: Sendable>(_ transform: @Sendable (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
