import Foundation
import Logging
import RedisClient
import RedisLock
import Testing

@testable import Scheduler

/// One scheduler "instance": its own Redis client, lock manager and scheduler, as a separate process would have.
final class SchedulerInstance: Sendable {
    let name: String
    let client: RedisClient
    let locks: RedisLocks
    let scheduler: Scheduler

    init(
        name: String,
        prefix: String,
        jobs: [ScheduledJob],
        clock: any WallClock = SystemWallClock(),
        configure: (inout SchedulerConfiguration) -> Void = { _ in }
    ) throws {
        var logger = Logger(label: "scheduler-test-\(name)")
        logger.logLevel = .critical
        self.name = name
        self.client = RedisClient(configuration: try SchedulerTestSupport.redisConfiguration(), logger: logger)
        var lockConfiguration = RedisLockConfiguration()
        lockConfiguration.keyPrefix = prefix + "lock:"
        lockConfiguration.owner = name
        lockConfiguration.renewInterval = .milliseconds(200)
        self.locks = RedisLocks(client: self.client, configuration: lockConfiguration, logger: logger)
        var configuration = SchedulerConfiguration()
        configuration.keyPrefix = prefix
        configuration.instance = name
        configure(&configuration)
        self.scheduler = try Scheduler(
            jobs: jobs,
            client: self.client,
            locks: self.locks,
            configuration: configuration,
            logger: logger,
            clock: clock
        )
    }
}

enum SchedulerTestSupport {
    /// The shared test Redis (`REDIS_URL`), with the 10 s command timeout the other suites' clients have: the 5 s
    /// default was exceeded in full runs on a cluster (an instance's first command there also discovers the
    /// topology and connects to a node, with 600 tests running beside it on two cores).
    static func redisConfiguration() throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(
            url: ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
        )
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    static func prefix() -> String { "test:scheduler:\(UUID().uuidString.prefix(8)):" }

    /// Waits (polling, bounded) until `condition` holds; records an issue if it never does.
    static func eventually(
        within limit: Duration = .seconds(10),
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
    }
}

/// What the jobs under test did, across instances.
actor RunLog {
    struct Entry: Sendable {
        let instance: String
        let tick: Date
        let manual: Bool
        let started: ContinuousClock.Instant
    }

    private(set) var entries: [Entry] = []

    func record(_ context: JobContext) {
        self.entries.append(
            Entry(instance: context.instance, tick: context.tick, manual: context.isManual, started: .now)
        )
    }

    var count: Int { self.entries.count }

    /// How many runs each tick had.
    var runsPerTick: [Date: Int] {
        Dictionary(grouping: self.entries.filter { !$0.manual }, by: \.tick).mapValues(\.count)
    }
}

/// A flag one task sets and another polls.
/// Counts what happened (runs of a job).
actor Counter {
    private(set) var value = 0
    func increment() { self.value += 1 }
}

actor Flag {
    private(set) var isSet = false

    func set() { self.isSet = true }
}
