import Foundation
import Logging
import NIOCore
import RedisClient
import ServiceLifecycle
import StreamQueue
import Testing

/// Clients, queues and consumers for tests, each on a key prefix of its own (tests run in parallel).
enum QueueTest {
    static var url: String { ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0" }

    static var logger: Logger {
        var logger = Logger(label: "queue-test")
        // QUEUE_TEST_LOG=debug shows the library's logs when a test needs explaining.
        logger.logLevel =
            ProcessInfo.processInfo.environment["QUEUE_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }

    /// A new client (one per simulated instance); shut it down at the end.
    static func client(url: String = QueueTest.url) -> RedisClient {
        // The URL comes from the environment the test run sets up; a bad one is a setup error worth a crash.
        var configuration = try! RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(10)
        return RedisClient(configuration: configuration, logger: Self.logger)
    }

    /// A queue on a prefix no other test uses.
    static func queue(_ client: RedisClient, prefix: String, retention: StreamRetention? = nil) -> StreamQueue {
        var configuration = StreamQueueConfiguration()
        configuration.keyPrefix = prefix
        if let retention { configuration.retention = retention }
        return StreamQueue(client: client, configuration: configuration, logger: Self.logger)
    }

    static func prefix(_ name: String = #function) -> String {
        "test:queue:\(name.prefix(30)):\(UUID().uuidString.prefix(8)):"
    }

    /// Consumer settings with short timings for tests.
    static func configuration(
        concurrency: Int = 4,
        maxAttempts: Int = 3,
        minimumDelay: Duration = .milliseconds(50),
        initialDelay: Duration = .milliseconds(100),
        visibilityTimeout: Duration = .seconds(30)
    ) -> QueueConsumerConfiguration {
        var configuration = QueueConsumerConfiguration()
        configuration.concurrency = concurrency
        configuration.retry = RetryPolicy(
            maxAttempts: maxAttempts,
            initialDelay: initialDelay,
            maximumDelay: .seconds(1),
            minimumDelay: minimumDelay
        )
        configuration.visibilityTimeout = visibilityTimeout
        configuration.blockTimeout = .milliseconds(500)
        configuration.promotionInterval = .milliseconds(20)
        configuration.shutdownGracePeriod = .seconds(5)
        configuration.gaugeInterval = nil
        return configuration
    }

    /// Waits (polling, bounded) until `condition` holds; records an issue and throws when it never does.
    static func eventually(
        _ what: String,
        timeout: Duration = .seconds(60),  // a bound for failing; a loaded run of the whole suite took over 20 s
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
        throw TestTimeout(what: what)
    }

    static func pendingCount(_ client: RedisClient, _ stream: String, group: String) async throws -> Int {
        try await client.xpendingCount(stream, group: group)
    }
}

struct TestTimeout: Error {
    let what: String
}

struct HandlerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A consumer service running as its own "instance": in a `ServiceGroup` on a task, with a client of its own.
final class RunningConsumer: Sendable {
    let consumer: QueueConsumer
    let client: RedisClient
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(consumer: QueueConsumer, client: RedisClient, group: ServiceGroup, task: Task<Void, any Error>) {
        self.consumer = consumer
        self.client = client
        self.group = group
        self.task = task
    }

    /// Starts a consumer on a new client (its own instance).
    static func start(
        prefix: String,
        topic: String,
        group: String,
        configuration: QueueConsumerConfiguration,
        url: String = QueueTest.url,
        handler: @escaping QueueConsumer.Handler
    ) -> RunningConsumer {
        let client = QueueTest.client(url: url)
        let queue = QueueTest.queue(client, prefix: prefix)
        let consumer = QueueConsumer(
            queue: queue,
            topic: topic,
            group: group,
            configuration: configuration,
            handler: handler
        )
        let serviceGroup = ServiceGroup(services: [consumer], logger: QueueTest.logger)
        let task = Task { try await serviceGroup.run() }
        return RunningConsumer(consumer: consumer, client: client, group: serviceGroup, task: task)
    }

    /// Starts the graceful shutdown without waiting for it.
    func beginStopping() async {
        await self.group.triggerGracefulShutdown()
    }

    /// Graceful shutdown: waits for the consumer to drain, then closes the client.
    func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.task.value
        await self.client.shutdown()
    }

    /// A crash: the consumer is cancelled at once and its client closed, acknowledging nothing more.
    func kill() async {
        await self.client.shutdown()
        self.task.cancel()
        _ = try? await self.task.value
    }
}

/// Records what handlers saw.
actor HandlerLog {
    private(set) var handled: [String] = []
    private(set) var attempts: [String: [Int]] = [:]
    private(set) var starts: [String: [ContinuousClock.Instant]] = [:]
    private(set) var messages: [String: QueueMessage] = [:]
    private(set) var running = 0
    private(set) var maxRunning = 0
    private(set) var consumers: [String: String] = [:]

    func started(_ message: QueueMessage) {
        self.attempts[message.id, default: []].append(message.attempt)
        self.starts[message.id, default: []].append(.now)
        self.running += 1
        self.maxRunning = max(self.maxRunning, self.running)
    }

    func ended() { self.running -= 1 }

    func succeeded(_ message: QueueMessage, by consumer: String = "") {
        self.handled.append(message.id)
        self.messages[message.id] = message
        self.consumers[message.id] = consumer
    }

    var handledCount: Int { self.handled.count }

    func count(of id: String) -> Int { self.handled.filter { $0 == id }.count }

    func startCount(of id: String) -> Int { self.attempts[id]?.count ?? 0 }
}
