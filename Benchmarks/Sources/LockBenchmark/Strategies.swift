import ArgumentParser
import Histogram
import Logging
import PostgresNIO
import RedisClient
import RedisLock
import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The stock step alone, without HTTP, sessions, idempotency or order rows: `--attempts` one-unit `take`s of a
/// product with `--units` units, from `--concurrency` tasks spread over `--instances` sets of clients (each
/// with its own PostgreSQL pool, Redis client and lock manager, like service instances). This isolates what
/// the strategies differ in — how long buyers of one product wait for each other.
struct Strategies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stock-taking throughput of one strategy.")

    @Option(help: "PostgreSQL URL (a migrated database).") var databaseUrl: String
    @Option(help: "Redis URL.") var redisUrl = "redis://127.0.0.1:6379/0"
    @Option(help: "conditional-update, select-for-update, redis-counter or lock.") var strategy: String
    @Option(help: "Purchase attempts.") var attempts = 10_000
    @Option(help: "Units in stock.") var units = 1_000
    @Option(help: "Concurrent buyers.") var concurrency = 200
    @Option(help: "Simulated instances.") var instances = 3
    @Option(help: "Redis key prefix (removed by the script afterwards).") var prefix = "bench:strategies:"

    func run() async throws {
        guard let kind = StockStrategyKind(rawValue: self.strategy) else {
            throw ValidationError("unknown strategy \(self.strategy)")
        }
        var logger = Logger(label: "strategies-bench")
        logger.logLevel = .warning
        let database = try DatabaseURL(self.databaseUrl)
        let sets = try (0..<self.instances).map { index in
            let postgres = PostgresClient(configuration: database.clientConfiguration(maxConnections: 20))
            let redis = RedisClient(configuration: try RedisConfiguration(url: self.redisUrl), logger: logger)
            var lockConfiguration = RedisLockConfiguration()
            lockConfiguration.keyPrefix = self.prefix + "lock:"
            lockConfiguration.owner = "bench-\(index)"
            let locks = RedisLocks(client: redis, configuration: lockConfiguration, logger: logger)
            return (
                postgres, redis, locks,
                Self.make(kind, postgres: postgres, redis: redis, locks: locks, prefix: self.prefix)
            )
        }
        try await withThrowingTaskGroup(of: Void.self) { services in
            for (postgres, _, locks, _) in sets {
                services.addTask { await postgres.run() }
                services.addTask { try await locks.run() }
            }
            try await Task.sleep(for: .milliseconds(300))  // listeners subscribed, pools warm
            let product = UUID()
            try await sets[0].0.query(
                """
                INSERT INTO products (id, name, description, price, currency, stock)
                VALUES (\(product), 'Strategy bench', '', 1.00, 'USD', \(self.units))
                """,
                logger: logger
            )
            let start = ContinuousClock.now
            let outcome = try await self.load(sets.map(\.3), product: product, logger: logger, start: start)
            let elapsed = ContinuousClock.now - start
            var left = -1
            for try await stock in try await sets[0].0.query(
                "SELECT stock FROM products WHERE id = \(product)",
                logger: logger
            )
            .decode(Int.self) {
                left = stock
            }
            guard outcome.taken == self.units, left == 0 else {
                throw ValidationError("\(self.strategy): \(outcome.taken) takes succeeded, \(left) units left")
            }
            print(
                "RESULT scenario=strategies strategy=\(self.strategy) taken=\(outcome.taken) refused=\(outcome.refused) "
                    + "attempts_per_sec=\(Int(Double(self.attempts) / elapsed.seconds)) "
                    + "sold_out_s=\(outcome.lastTake.seconds) "
                    + "purchases_per_sec=\(Int(Double(outcome.taken) / max(outcome.lastTake.seconds, 1e-9))) "
                    + "p50_ms=\(outcome.all.milliseconds(50)) p99_ms=\(outcome.all.milliseconds(99)) "
                    + "purchase_p99_ms=\(outcome.takes.milliseconds(99))"
            )
            services.cancelAll()
        }
        for (_, redis, _, _) in sets { await redis.shutdown() }
    }

    static func make(
        _ kind: StockStrategyKind,
        postgres: PostgresClient,
        redis: RedisClient,
        locks: RedisLocks,
        prefix: String
    ) -> any StockStrategy {
        // The shop's facade over the pool, with the background bound on the connection wait.
        let database = Database(client: postgres)
        switch kind {
        case .conditionalUpdate: return ConditionalUpdateStrategy(client: database)
        case .selectForUpdate: return SelectForUpdateStrategy(client: database)
        case .redisCounter: return RedisCounterStrategy(client: database, redis: redis, keyPrefix: prefix + "stock:")
        case .lock: return RedisLockStrategy(client: database, locks: locks, lease: .seconds(5), wait: .seconds(60))
        }
    }

    struct Outcome {
        var taken = 0
        var refused = 0
        var lastTake = Duration.zero
        var all = Histogram<UInt64>.nanoseconds()
        var takes = Histogram<UInt64>.nanoseconds()

        mutating func merge(_ other: Outcome) {
            self.taken += other.taken
            self.refused += other.refused
            self.lastTake = max(self.lastTake, other.lastTake)
            self.all.add(other.all)
            self.takes.add(other.takes)
        }
    }

    private func load(
        _ strategies: [any StockStrategy],
        product: UUID,
        logger: Logger,
        start: ContinuousClock.Instant
    ) async throws -> Outcome {
        let line = [StockLine(productID: product, quantity: 1)]
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            for worker in 0..<self.concurrency {
                group.addTask {
                    var outcome = Outcome()
                    var attempt = worker
                    while attempt < self.attempts {
                        let strategy = strategies[attempt % strategies.count]
                        let began = ContinuousClock.now
                        do {
                            try await strategy.take(line, logger: logger) { _, _ in }
                            let now = ContinuousClock.now
                            outcome.taken += 1
                            outcome.takes.record((now - began).nanoseconds)
                            outcome.lastTake = max(outcome.lastTake, now - start)
                        } catch InventoryError.outOfStock {
                            outcome.refused += 1
                        }
                        outcome.all.record((ContinuousClock.now - began).nanoseconds)
                        attempt += self.concurrency
                    }
                    return outcome
                }
            }
            var merged = Outcome()
            for try await partial in group { merged.merge(partial) }
            return merged
        }
    }
}
