import Logging
import NIOCore
import RedisClient

/// The lease that makes one consumer service the active one of an exclusive group.
struct ExclusiveLease: Sendable {
    let consumer: QueueConsumer

    private var key: String { self.consumer.keys.active(self.consumer.group) }
    private var lease: Duration { max(self.consumer.configuration.exclusiveLease, .milliseconds(30)) }
    private var renewEvery: Duration { self.lease / 3 }

    /// Stands by until the lease is taken.
    /// - Parameter stopped: Ends the wait (graceful shutdown).
    /// - Returns: True when the lease is held, false when stopped or cancelled first.
    func acquire(until stopped: OneShotSignal) async -> Bool {
        var announced = false
        while !stopped.isFired && !Task.isCancelled {
            if (try? await self.hold()) == true { return true }
            if !announced {
                announced = true
                self.consumer.logger.info(
                    "queue consumer standing by: another consumer of the exclusive group is active",
                    metadata: ["queue.consumer": .string(self.consumer.name)]
                )
            }
            // Standbys poll more often than the lease is renewed, so a released lease is taken over promptly.
            await stopped.wait(upTo: min(self.renewEvery, .milliseconds(500)))
        }
        return false
    }

    /// Renews the lease while `run` runs; when it cannot be renewed before it may have expired, the run is
    /// abandoned at once (handlers cancelled, nothing more acknowledged), because a standby may take over.
    func keep(while run: ConsumerRun, finished: OneShotSignal) async {
        var lastRenewed = NIODeadline.now()
        while true {
            if await finished.wait(upTo: self.renewEvery) || Task.isCancelled { return }
            let held = try? await self.hold()
            if held == true {
                lastRenewed = .now()
                continue
            }
            let expired = NIODeadline.now() - lastRenewed >= .nanoseconds(Int64(self.lease.milliseconds) * 1_000_000)
            if held == false || expired {
                self.consumer.logger.warning(
                    "queue consumer lost the exclusive lease; stopping its handlers",
                    metadata: ["queue.consumer": .string(self.consumer.name)]
                )
                run.abandon()
                await finished.wait()
                return
            }
        }
    }

    /// Gives the lease up (after a clean stop), so a standby takes over at once.
    func release() async {
        _ = try? await self.consumer.queue.client.eval(
            QueueScripts.dropLease,
            keys: [self.key],
            arguments: [self.consumer.name]
        )
    }

    private func hold() async throws -> Bool {
        try await self.consumer.queue.client.eval(
            QueueScripts.holdLease,
            keys: [self.key],
            arguments: [self.consumer.name, Int(self.lease.milliseconds)]
        ).decode(as: Int.self) == 1
    }
}
