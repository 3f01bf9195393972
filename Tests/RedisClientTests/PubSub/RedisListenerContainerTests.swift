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

    @Test func shardedListenersGetSpublishedMessagesAndClassicOnesOfTheSameNameDoNot() async throws {
        let prefix = TestRedis.prefix()
        let seen = Seen()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { publisher in
                let container = RedisListenerContainer(client: client, logger: Logger(label: "test"))
                container.addListener(shardChannel: prefix + "events") { message in
                    seen.messages.withLock { $0.append("sharded:" + message.payloadString) }
                }
                container.addListener(shardChannel: prefix + "other") { message in
                    seen.messages.withLock { $0.append("other:" + message.payloadString) }
                }
                container.addListener(channel: prefix + "events") { message in
                    seen.messages.withLock { $0.append("classic:" + message.payloadString) }
                }
                let running = Task { try await container.run() }
                defer { running.cancel() }
                #expect(await eventually { container.isListening })
                try await publisher.spublish("1", to: prefix + "events")
                try await publisher.publish("2", to: prefix + "events")
                try await publisher.spublish("3", to: prefix + "other")
                #expect(await eventually { seen.all.count == 3 })
                #expect(Set(seen.all) == ["sharded:1", "classic:2", "other:3"])
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
                let dropped = Mutex(0)
                let (gate, openGate) = AsyncStream<Void>.makeStream()
                container.addListener(channel: prefix + "busy") { message in
                    // The first message holds the handler until every message has been published: at most the
                    // buffer's 4 can wait meanwhile, so the rest must be dropped, counted and reported.
                    if message.payloadString == "0" {
                        var wait = gate.makeAsyncIterator()
                        await wait.next()
                    }
                    seen.messages.withLock { $0.append(message.payloadString) }
                } onGap: { gap in
                    if case .bufferOverflow(let count) = gap.reason {
                        seen.gaps.withLock { $0 += 1 }
                        dropped.withLock { $0 += count }
                    }
                }
                let running = Task { try await container.run() }
                defer { running.cancel() }
                #expect(await eventually { container.isListening })
                for index in 0..<100 { try await publisher.publish(String(index), to: prefix + "busy") }
                openGate.yield()
                // The handler took "0"; the buffer held the next 4; the other 95 were dropped.
                #expect(await eventually { seen.all.count == 5 })
                // The overflow is reported before the next event that fits.
                try await publisher.publish("last", to: prefix + "busy")
                #expect(await eventually { seen.all.last == "last" })
                #expect(seen.all == ["0", "1", "2", "3", "4", "last"])
                #expect(seen.gapCount == 1)
                #expect(dropped.withLock { $0 } == 95, "every message is delivered or counted as dropped")
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
