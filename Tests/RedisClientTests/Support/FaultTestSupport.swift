import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

@testable import RedisClient

/// A private `redis-server` with a ``FaultProxy`` in front of it, and helpers the network-fault tests share.
struct ProxiedServer: Sendable {
    let server: RedisTestServer
    let proxy: FaultProxy
    /// A name every connection of the client under test announces (`HELLO ... SETNAME`), to count them.
    let clientName: String

    /// Runs `body` with a server, a proxy in front of it and nothing else; tears both down afterwards.
    static func with<T>(_ arguments: [String] = [], _ body: (ProxiedServer) async throws -> T) async throws -> T {
        let server = try await RedisTestServer.start(arguments)
        let proxy: FaultProxy
        do {
            proxy = try await FaultProxy.start(upstreamPort: server.port)
        } catch {
            await server.destroy()
            throw error
        }
        let proxied = ProxiedServer(server: server, proxy: proxy, clientName: "fault-\(UUID().uuidString.prefix(8))")
        do {
            let result = try await body(proxied)
            await proxy.stop()
            await server.destroy()
            return result
        } catch {
            await proxy.stop()
            await server.destroy()
            throw error
        }
    }

    /// A configuration that reaches the server through the proxy, with short timeouts and reconnect delays.
    func configuration(_ adjust: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: self.proxy.url)
        configuration.clientName = self.clientName
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(1)
        configuration.initialReconnectDelay = .milliseconds(20)
        configuration.maxReconnectDelay = .milliseconds(200)
        adjust(&configuration)
        return configuration
    }

    /// The connections the client under test has open on the server (by the name it announces).
    func serverConnections() async throws -> [String] {
        let list = try await self.server.cli(["CLIENT", "LIST"])
        return list.split(separator: "\n").map(String.init).filter { $0.contains("name=\(self.clientName) ") }
    }

    /// How many connections are subscribed to `channel` on the server.
    func subscriberCount(_ channel: String) async throws -> Int {
        let output = try await self.server.cli(["PUBSUB", "NUMSUB", channel])
        let lines = output.split(separator: "\n")
        return lines.count >= 2 ? Int(lines[1].trimmingCharacters(in: .whitespaces)) ?? -1 : -1
    }

    /// Publishes straight to the server (not through the proxy); returns how many subscribers received it.
    @discardableResult
    func publish(_ message: String, to channel: String) async throws -> Int {
        let output = try await self.server.cli(["PUBLISH", channel, message])
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

/// The result of `body`, or nil if it did not finish within `limit`. For tests whose failure mode is a hang:
/// `body` runs in a task of its own that is cancelled (and abandoned, should it ignore cancellation) at the limit,
/// so a hang fails the test instead of hanging the run.
func finishing<T: Sendable>(
    within limit: Duration,
    _ body: @escaping @Sendable () async throws -> T
) async -> Result<T, any Error>? {
    let outcome = NIOLockedValueBox<(done: Bool, continuation: CheckedContinuation<Result<T, any Error>?, Never>?)>(
        (false, nil)
    )
    @Sendable func finish(_ result: Result<T, any Error>?) {
        let continuation = outcome.withLockedValue { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
            guard !state.done else { return nil }
            state.done = true
            return state.continuation
        }
        continuation?.resume(returning: result)
    }
    return await withCheckedContinuation { continuation in
        outcome.withLockedValue { $0.continuation = continuation }
        let work = Task { finish(await Result(catching: { try await body() })) }
        Task {
            try? await Task.sleep(for: limit)
            work.cancel()
            finish(nil)
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Reads a subscription's events into an array other tasks can inspect.
final class EventRecorder: Sendable {
    private let events = NIOLockedValueBox<[RedisSubscriptionEvent]>([])
    private let subscribed = NIOLockedValueBox(false)

    /// Marks the subscription active (its scope started).
    func markSubscribed() { self.subscribed.withLockedValue { $0 = true } }
    /// True once the subscription's scope started.
    var isSubscribed: Bool { self.subscribed.withLockedValue { $0 } }

    func record(_ event: RedisSubscriptionEvent) { self.events.withLockedValue { $0.append(event) } }

    var all: [RedisSubscriptionEvent] { self.events.withLockedValue { $0 } }

    var payloads: [String] {
        self.all.compactMap { event in
            if case .message(let message) = event { return message.payloadString }
            return nil
        }
    }

    var gaps: [RedisSubscriptionGap] {
        self.all.compactMap { event in
            if case .gap(let gap) = event { return gap }
            return nil
        }
    }
}
