import ArgumentParser
import Histogram
import RedisLock

/// `--clients` callers, each taking and releasing a lock of its own (no contention), until `--operations`
/// acquire+release pairs are done. Compare with `redis-benchmark -t set` at the same client count.
struct Uncontended: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Acquire+release pairs per second without contention.")

    @OptionGroup var redis: RedisOptions
    @Option(help: "Concurrent callers, each on its own lock.") var clients = 1
    @Option(help: "Acquire+release pairs in total.") var operations = 50_000

    func run() async throws {
        let (client, locks) = try self.redis.makeLocks(owner: "uncontended")
        let service = Task { try await locks.run() }
        try await self.load(locks, total: min(self.operations / 10, 5_000))  // warm-up
        let start = ContinuousClock.now
        let histogram = try await self.load(locks, total: self.operations)
        let elapsed = ContinuousClock.now - start
        print(
            "RESULT scenario=uncontended clients=\(self.clients) ops_per_sec=\(Int(Double(self.operations) / elapsed.seconds)) "
                + "p50_ms=\(histogram.milliseconds(50)) p99_ms=\(histogram.milliseconds(99))"
        )
        service.cancel()
        await client.shutdown()
    }

    @discardableResult
    private func load(_ locks: RedisLocks, total: Int) async throws -> Histogram<UInt64> {
        let perClient = max(1, total / self.clients)
        return try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for worker in 0..<self.clients {
                group.addTask {
                    var histogram = Histogram<UInt64>.nanoseconds()
                    for _ in 0..<perClient {
                        let started = ContinuousClock.now
                        guard let lease = try await locks.tryAcquire("uncontended-\(worker)", lease: .seconds(10))
                        else {
                            throw ValidationError("lock uncontended-\(worker) was held: the key prefix is not private")
                        }
                        guard try await lease.release() else { throw ValidationError("release found the lease gone") }
                        histogram.record((ContinuousClock.now - started).nanoseconds)
                    }
                    return histogram
                }
            }
            var merged = Histogram<UInt64>.nanoseconds()
            for try await histogram in group { merged.add(histogram) }
            return merged
        }
    }
}
