import Logging
import NIOCore
import RedisClient

extension ConsumerRun {
    /// Moves due retries into the group's retry stream, every promotion interval or when the next one is due.
    func promoteLoop() async {
        var failures = 0
        while !self.isStopping {
            var wait = self.configuration.promotionInterval
            do {
                let reply = try await self.client.eval(
                    QueueScripts.promote,
                    keys: [self.keys.delayed(self.group), self.keys.retry(self.group)],
                    arguments: [100]
                ).decode(as: [Int].self)
                failures = 0
                if reply.count == 2 {
                    if reply[0] >= 100 {
                        wait = .zero
                    } else if reply[1] >= 0 {
                        wait = min(wait, .milliseconds(reply[1]))
                    }
                }
            } catch {
                failures += 1
                await self.recover(from: error, in: "promote", failures: failures)
            }
            if wait > .zero {
                await self.shutdown.wait(upTo: wait)
            }
        }
    }

    /// Renews the messages this consumer holds (running or waiting) so they are not taken over while it is alive;
    /// runs until every worker has exited.
    func heartbeatLoop() async {
        let interval = self.configuration.effectiveHeartbeatInterval
        let amount = TimeAmount.nanoseconds(
            Int64(interval.components.seconds) * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000
        )
        while !Task.isCancelled {
            if await self.workersDone.wait(upTo: interval) || Task.isCancelled { return }
            let due = self.scheduler.dueForRenewal(interval: amount)
            guard !due.isEmpty else { continue }
            let lost = await self.touch(due, idle: 0)
            if !lost.isEmpty {
                self.scheduler.markLost(lost)
                self.logger.warning(
                    "queue messages held too long were taken over by another consumer",
                    metadata: ["queue.count": .stringConvertible(lost.count)]
                )
            }
        }
    }

    /// Refreshes the lag, pending, delayed and dead-letter gauges.
    func gaugeLoop(every interval: Duration) async {
        while !self.isStopping {
            do {
                let retry = self.keys.retry(self.group)
                let replies = try await self.client.pipeline([
                    RedisCommand("XINFO", "GROUPS", key: self.keys.stream),
                    RedisCommand("XPENDING", key: retry, self.group),
                    RedisCommand("ZCARD", key: self.keys.delayed(self.group)),
                    RedisCommand("XLEN", key: self.keys.dead),
                ])
                if let info = try GroupInfo.list(try replies[0].get()).first(where: { $0.name == self.group }) {
                    var retryPending = 0
                    if case .success(.array(let summary)) = replies[1], let first = summary.first {
                        retryPending = (try? first.decode(as: Int.self)) ?? 0
                    }
                    if let lag = info.lag { self.metrics.lag.record(lag) }
                    self.metrics.pending.record(info.pending + retryPending)
                }
                self.metrics.delayed.record(try replies[2].get().decode(as: Int.self))
                self.metrics.deadLetters.record(try replies[3].get().decode(as: Int.self))
            } catch {
                self.logger.debug("queue gauges not refreshed", metadata: ["error": "\(error)"])
            }
            await self.shutdown.wait(upTo: interval)
        }
    }

    /// Removes consumers of the group that hold nothing and were idle longer than `limit` (dead instances).
    func removeIdleConsumers(idleFor limit: Duration) async {
        for kind in [StreamKind.topic, .retry] {
            let stream = self.streamKey(kind)
            do {
                let reply = try await self.client.send(RedisCommand("XINFO", "CONSUMERS", key: stream, self.group))
                guard case .array(let consumers) = reply else { continue }
                for consumer in consumers {
                    let fields = try consumer.decode(as: [String: RESPValue].self)
                    guard let name = try fields["name"]?.decode(as: String.self), name != self.name,
                        let pending = try fields["pending"]?.decode(as: Int.self), pending == 0,
                        let idle = try fields["idle"]?.decode(as: Int.self), idle >= Int(limit.milliseconds)
                    else { continue }
                    _ = try await self.client.eval(
                        QueueScripts.leaveGroup,
                        keys: [stream],
                        arguments: [self.group, name]
                    )
                }
            } catch {
                self.logger.debug("queue could not clean up idle consumers", metadata: ["error": "\(error)"])
            }
        }
    }
}
