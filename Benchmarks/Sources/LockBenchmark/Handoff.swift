import ArgumentParser
import Histogram
import NIOConcurrencyHelpers
import RedisClient
import RedisLock

/// `--waiters` callers spread over `--instances` lock managers (each with its own Redis client, like service
/// instances) take turns on one lock. A hand-off is the time from the holder starting its release to the next
/// holder returning from `acquire`, measured on one clock.
struct Handoff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hand-off latency of one lock between waiters.")

    @OptionGroup var redis: RedisOptions
    @Option(help: "Callers competing for the lock.") var waiters = 16
    @Option(help: "Lock managers (simulated instances) the waiters are spread over.") var instances = 4
    @Option(help: "Hand-offs to measure (after a warm-up of a tenth as many).") var handoffs = 5_000
    @Option(help: "Microseconds each holder keeps the lock.") var holdMicroseconds = 200
    @Flag(help: "Do not run the release-notice listener: waiters poll every 100 ms (the polling baseline).")
    var polling = false

    func run() async throws {
        let managers = try (0..<self.instances).map { try self.redis.makeLocks(owner: "handoff-\($0)") }
        let listeners = self.polling ? [] : managers.map { _, locks in Task { try await locks.run() } }
        if !self.polling {
            // Let every listener subscribe before measuring.
            try await Task.sleep(for: .milliseconds(300))
        }
        let warmUp = max(1, self.handoffs / 10)
        let state = NIOLockedValueBox(Tally(remaining: warmUp + self.handoffs, skip: warmUp))
        let hold = Duration.microseconds(self.holdMicroseconds)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for waiter in 0..<self.waiters {
                let locks = managers[waiter % managers.count].1
                group.addTask {
                    while true {
                        let lease = try await locks.acquire("handoff", lease: .seconds(10), wait: .seconds(60))
                        let acquiredAt = ContinuousClock.now
                        let done = state.withLockedValue { $0.acquired(at: acquiredAt, by: waiter) }
                        if done {
                            state.withLockedValue { $0.releasing = nil }
                            _ = try await lease.release()
                            return
                        }
                        try await Task.sleep(for: hold)
                        state.withLockedValue { $0.releasing = ContinuousClock.now }
                        _ = try await lease.release()
                        // Queue again only once another waiter has the lock: re-taking it at once would measure
                        // a holder's barging, not a hand-off.
                        while state.withLockedValue({ $0.holder == waiter && $0.remaining > 0 }) {
                            try await Task.sleep(for: .milliseconds(1))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let histogram = state.withLockedValue { $0.histogram }
        print(
            "RESULT scenario=handoff mode=\(self.polling ? "polling" : "notices") waiters=\(self.waiters) "
                + "instances=\(self.instances) handoffs=\(histogram.totalCount) "
                + "per_sec=\(Int(Double(self.handoffs + warmUp) / elapsed.seconds)) "
                + "p50_ms=\(histogram.milliseconds(50)) p99_ms=\(histogram.milliseconds(99)) "
                + "mean_ms=\(histogram.mean / 1e6) max_ms=\(Double(histogram.max) / 1e6)"
        )
        for listener in listeners { listener.cancel() }
        for (client, _) in managers { await client.shutdown() }
    }

    /// Shared between the waiters: when the current holder began releasing, and the hand-offs seen so far.
    struct Tally {
        var remaining: Int
        var skip: Int
        var releasing: ContinuousClock.Instant?
        var holder = -1
        var histogram = Histogram<UInt64>.nanoseconds()

        /// Records the hand-off to `waiter` that ends at `instant`; true once every hand-off was measured.
        mutating func acquired(at instant: ContinuousClock.Instant, by waiter: Int) -> Bool {
            self.holder = waiter
            guard self.remaining > 0 else { return true }
            if let releasing {
                self.remaining -= 1
                if self.skip > 0 {
                    self.skip -= 1
                } else {
                    self.histogram.record((instant - releasing).nanoseconds)
                }
                self.releasing = nil
            }
            return self.remaining == 0
        }
    }
}
