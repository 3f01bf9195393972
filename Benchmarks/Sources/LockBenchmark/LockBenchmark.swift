import ArgumentParser
import Histogram
import Logging
import RedisClient
import RedisLock

/// Load generators behind `make bench-lock`: uncontended lock round trips, hand-off latency between waiters,
/// and the stock-decrement experiment over HTTP. Each prints one `RESULT key=value ...` line for the script.
@main
struct LockBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock-benchmark",
        abstract: "Measure RedisLock and the order path.",
        subcommands: [Uncontended.self, Handoff.self, Orders.self, Strategies.self]
    )
}

/// Options shared by the Redis-only scenarios.
struct RedisOptions: ParsableArguments {
    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379/0"
    @Option(help: "Key prefix of the benchmark's locks (removed by the script afterwards).") var prefix = "bench:lock:"

    func makeLocks(owner: String) throws -> (RedisClient, RedisLocks) {
        var logger = Logger(label: "lock-bench")
        logger.logLevel = .warning
        let client = RedisClient(configuration: try RedisConfiguration(url: self.url), logger: logger)
        var configuration = RedisLockConfiguration()
        configuration.keyPrefix = self.prefix
        configuration.owner = owner
        configuration.wait = .seconds(30)
        return (client, RedisLocks(client: client, configuration: configuration, logger: logger))
    }
}

/// Latency percentiles of a histogram of nanoseconds, in milliseconds.
extension Histogram<UInt64> {
    static func nanoseconds() -> Self { Histogram<UInt64>(highestTrackableValue: 120_000_000_000) }

    func milliseconds(_ percentile: Double) -> Double { Double(self.valueAtPercentile(percentile)) / 1e6 }
}

extension Duration {
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
    var nanoseconds: UInt64 { UInt64(max(0, self.seconds * 1e9)) }
}
