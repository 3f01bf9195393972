import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import RedisClient

/// What the listeners under test saw.
private final class Seen: Sendable {
    let messages = Mutex<[String]>([])
    let gaps = Mutex(0)

    var all: [String] { self.messages.withLock { $0 } }
    var gapCount: Int { self.gaps.withLock { $0 } }
}

private func eventually(within limit: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows
    -> Bool
{
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

@Suite struct RedisListenerContainerTests {
    @Test func handlersGetTheirChannelsAndPatternsAndAFailingHandlerDoesNotStopTheLoop() async throws {
        let prefix = TestRedis.prefix()
        let seen = Seen()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { publisher in
                let container = RedisListenerContainer(client: client, logger: Logger(label: "test"))
                container.addListener(channel: prefix + "orders") { message in
                    if message.payloadString == "boom" { throw CancellationError() }
                    seen.messages.withLock { $0.append("orders:" + message.payloadString) }
                }
                container.addListener(pattern: prefix + "news.*") { message in
                    seen.messages.withLock {
                        $0.append("\(message.channel.dropFirst(prefix.count)):\(message.payloadString)")
                    }
                }
                let running = Task { try await container.run() }
                defer { running.cancel() }
                #expect(await eventually { container.isListening })
                try await publisher.publish("1", to: prefix + "orders")
                try await publisher.publish("boom", to: prefix + "orders")
                try await publisher.publish("a", to: prefix + "news.sport")
                try await publisher.publish("x", to: prefix + "weather")
                try await publisher.publish("2", to: prefix + "orders")
                #expect(await eventually { seen.all.count == 3 })
                #expect(seen.all == ["orders:1", "news.sport:a", "orders:2"])
                #expect(seen.gapCount == 0)
            }
        }
    }

    @Test func aReconnectIsReportedAsAGapAndDeliveryResumes() async throws {
        let server = try await RedisTestServer.start()
        defer { Task { await server.destroy() } }
        let seen = Seen()
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(5)
        try await TestRedis.withClient(configuration) { client in
            let container = RedisListenerContainer(client: client, logger: Logger(label: "test"))
            container.addListener(channel: "events") { message in
                seen.messages.withLock { $0.append(message.payloadString) }
            } onGap: { _ in
                seen.gaps.withLock { $0 += 1 }
            }
            let running = Task { try await container.run() }
            defer { running.cancel() }
            #expect(await eventually { container.isListening })
            try await client.publish("before", to: "events")
            #expect(await eventually { seen.all == ["before"] })
            await server.stop()
            try await server.launch()
            #expect(await eventually(within: .seconds(20)) { seen.gapCount >= 1 })
            // Resubscribed: a message published now arrives.
            #expect(
                await eventually(within: .seconds(20)) {
                    _ = try? await client.publish("after", to: "events")
                    return seen.all.contains("after")
                }
            )
        }
    }

    @Test func aSlowHandlerOverflowsTheBoundedBufferAndTheOverflowIsReportedAsAGap() async throws {
        let prefix = TestRedis.prefix()
        let seen = Seen()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { publisher in
                let container = RedisListenerContainer(client: client, bufferSize: 4, logger: Logger(label: "test"))
                container.addListener(channel: prefix + "busy") { message in
                    try await Task.sleep(for: .milliseconds(20))
                    seen.messages.withLock { $0.append(message.payloadString) }
                } onGap: { gap in
                    if case .bufferOverflow = gap.reason { seen.gaps.withLock { $0 += 1 } }
                }
                let running = Task { try await container.run() }
                defer { running.cancel() }
                #expect(await eventually { container.isListening })
                for index in 0..<100 { try await publisher.publish(String(index), to: prefix + "busy") }
                #expect(await eventually { seen.gapCount >= 1 })
                // Memory stayed bounded: far fewer than 100 were kept for the slow handler.
                try await Task.sleep(for: .milliseconds(500))
                #expect(seen.all.count < 100)
            }
        }
    }

    @Test func gracefulShutdownEndsRun() async throws {
        try await TestRedis.withClient { client in
            let container = RedisListenerContainer(client: client, logger: Logger(label: "test"))
            container.addListener(channel: TestRedis.prefix() + "c") { _ in }
            let group = ServiceGroup(services: [container], logger: Logger(label: "group"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                #expect(await eventually { container.isListening })
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(!container.isListening)
        }
    }
}
