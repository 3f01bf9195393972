import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import Tracing

/// Everything of one ``QueueConsumer/run()``: the scheduler, the signals, and the tasks (reader, workers,
/// promoter, reclaimer, heartbeat, gauges), all children of `run()`.
final class ConsumerRun: Sendable {
    let consumer: QueueConsumer
    let scheduler: DeliveryScheduler
    /// Graceful shutdown was requested: stop reading, promoting and reclaiming.
    let shutdown = OneShotSignal()
    /// Every worker has exited: nothing is held any more (heartbeats stop).
    let workersDone = OneShotSignal()
    /// The reader has left its connection.
    let readerStopped = OneShotSignal()
    /// The server-side id of the reader's connection, while it reads (for `CLIENT UNBLOCK`).
    let readerClientID = NIOLockedValueBox<Int?>(nil)
    /// Exclusive mode: take over everything pending in the group before reading new messages.
    let takeOver: Bool
    private let runningWorkers: NIOLockedValueBox<Int>
    private let workersIdle = OneShotSignal()
    /// Exclusive mode: the takeover of pending deliveries is complete (reclaiming waits for it, so it cannot
    /// claim a newer delivery of a key before the takeover reached an older one).
    let tookOver = OneShotSignal()
    /// The run was stopped without a grace period (exclusive lease lost).
    private let abandoned = NIOLockedValueBox(false)

    var client: RedisClient { self.consumer.queue.client }
    var configuration: QueueConsumerConfiguration { self.consumer.configuration }
    var keys: TopicKeys { self.consumer.keys }
    var group: String { self.consumer.group }
    var name: String { self.consumer.name }
    var logger: Logger { self.consumer.logger }
    var metrics: ConsumerMetrics { self.consumer.metrics }
    var isStopping: Bool { self.shutdown.isFired || Task.isCancelled }

    init(consumer: QueueConsumer, takeOver: Bool) {
        self.consumer = consumer
        self.takeOver = takeOver
        let concurrency = max(1, consumer.configuration.concurrency)
        self.scheduler = DeliveryScheduler(capacity: concurrency, perKey: consumer.configuration.ordering == .perKey)
        self.runningWorkers = NIOLockedValueBox(concurrency)
    }

    func requestShutdown() {
        self.shutdown.fire()
    }

    /// Stops at once: running handlers are cancelled (no grace period) and nothing more is acknowledged.
    func abandon() {
        self.abandoned.withLockedValue { $0 = true }
        self.shutdown.fire()
    }

    var wasAbandoned: Bool { self.abandoned.withLockedValue { $0 } }

    func streamKey(_ kind: StreamKind) -> String {
        switch kind {
        case .topic: self.keys.stream
        case .retry: self.keys.retry(self.group)
        }
    }

    // MARK: Lifecycle

    func run() async {
        guard await self.prepareGroups() else { return }
        self.logger.info(
            "queue consumer started",
            metadata: [
                "queue.consumer": .string(self.name),
                "queue.concurrency": .stringConvertible(self.scheduler.capacity),
            ]
        )
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                if self.takeOver { await self.takeOverPending() }
                self.tookOver.fire()
                await self.readLoop()
            }
            tasks.addTask { await self.unblockReaderOnShutdown() }
            tasks.addTask { await self.promoteLoop() }
            tasks.addTask {
                await self.tookOver.wait()
                await self.reclaimLoop()
            }
            tasks.addTask { await self.heartbeatLoop() }
            if let interval = self.configuration.gaugeInterval {
                tasks.addTask { await self.gaugeLoop(every: interval) }
            }
            tasks.addTask {
                await self.runWorkers()
                self.workersDone.fire()
            }
        }
        if !Task.isCancelled && !self.wasAbandoned {
            await self.leaveGroup()
        }
        self.logger.info("queue consumer stopped", metadata: ["queue.consumer": .string(self.name)])
    }

    /// Creates the groups (topic stream and retry stream), retrying until Redis answers or shutdown.
    private func prepareGroups() async -> Bool {
        var failures = 0
        while !self.isStopping {
            do {
                try await self.createGroups()
                return true
            } catch {
                failures += 1
                self.logger.warning("queue consumer cannot create its group yet", metadata: ["error": "\(error)"])
                await self.shutdown.wait(upTo: Self.backoff(failures))
            }
        }
        return false
    }

    func createGroups() async throws {
        try await self.client.xgroupCreate(
            self.keys.stream,
            group: self.group,
            startID: self.configuration.startAt == .beginning ? "0" : "$"
        )
        try await self.client.xgroupCreate(self.keys.retry(self.group), group: self.group, startID: "0")
    }

    /// Removes this consumer's names from the group when it holds nothing (a clean stop).
    private func leaveGroup() async {
        for kind in [StreamKind.topic, .retry] {
            do {
                _ = try await self.client.eval(
                    QueueScripts.leaveGroup,
                    keys: [self.streamKey(kind)],
                    arguments: [self.group, self.name]
                )
            } catch {
                self.logger.debug("queue consumer could not leave its group", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Workers

    /// Runs `concurrency` workers until shutdown; then hands back what was never started, waits for running
    /// handlers up to the grace period, and cancels the rest (their messages stay pending).
    private func runWorkers() async {
        await withTaskGroup(of: Void.self) { workers in
            for _ in 0..<self.scheduler.capacity {
                workers.addTask {
                    await self.workerLoop()
                    self.workerExited()
                }
            }
            await self.shutdown.wait()
            let unstarted = self.scheduler.close()
            if !Task.isCancelled && !self.wasAbandoned {
                await self.handBack(unstarted)
                let finished = await self.workersIdle.wait(upTo: self.configuration.shutdownGracePeriod)
                if !finished {
                    self.logger.warning(
                        "queue consumer grace period ended with handlers still running; their messages stay pending",
                        metadata: ["queue.held": .stringConvertible(self.scheduler.heldCount)]
                    )
                }
            }
            workers.cancelAll()
        }
    }

    private func workerExited() {
        let remaining = self.runningWorkers.withLockedValue { count -> Int in
            count -= 1
            return count
        }
        if remaining == 0 { self.workersIdle.fire() }
    }

    private func workerLoop() async {
        while let first = await self.scheduler.next() {
            var current: Delivery? = first
            while let delivery = current {
                await self.process(delivery)
                current = self.scheduler.finish(delivery)
            }
        }
    }

    /// Runs the handler on one delivery and records the outcome.
    private func process(_ delivery: Delivery) async {
        var message = delivery.message
        if message.attempt == 1 && message.deliveryCount == 1 {
            let published = Int64(message.publishedAt.timeIntervalSince1970 * 1_000_000_000)
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            if published > 0 { self.metrics.latency.recordNanoseconds(max(0, now - published)) }
        }
        let inPlace = self.scheduler.perKey && message.key != nil
        var transientFailures = 0
        while true {
            let start = NIODeadline.now()
            var failure: (any Error)?
            let span = QueueTracing.startProcessing(message, group: self.group, consumer: self.name)
            do {
                try await ServiceContext.withValue(span.context) { try await self.consumer.handler(message) }
            } catch {
                failure = error
                span.recordError(error)
            }
            span.end()
            self.metrics.handling.recordNanoseconds((NIODeadline.now() - start).nanoseconds)
            guard let failure else {
                await self.acknowledge(delivery)
                return
            }
            if Task.isCancelled {
                // Stopped hard, or the grace period ended: unfinished work is never acknowledged.
                self.metrics.abandoned.increment()
                return
            }
            if self.configuration.classifyFailure(failure) == .transient {
                // The infrastructure's fault: keep the message (the heartbeat renews it) and try again later,
                // without using up an attempt.
                transientFailures += 1
                guard await self.waitOutTransientFailure(delivery, failure: failure, count: transientFailures) else {
                    return
                }
                continue
            }
            transientFailures = 0
            let retry = self.configuration.retry
            guard retry.allowsRetry(after: message.attempt) else {
                await self.deadLetter(
                    delivery,
                    reason: .handlerFailed,
                    error: describeError(failure),
                    attempts: message.attempt
                )
                return
            }
            let delay = retry.delay(after: message.attempt)
            self.logger.debug(
                "queue handler failed, retrying later",
                metadata: [
                    "queue.message": .string(message.id), "queue.type": .string(message.type),
                    "queue.attempt": .stringConvertible(message.attempt), "error": "\(failure)",
                ]
            )
            guard inPlace else {
                await self.scheduleRetry(
                    delivery,
                    attempt: message.attempt,
                    error: describeError(failure),
                    delay: delay,
                    previousAttempt: QueueTracing.previousAttemptFields(span)
                )
                return
            }
            // Per-key order: retry here, holding the key (later messages of the key wait, others go on).
            self.metrics.retries.increment()
            if await self.shutdown.wait(upTo: delay) || Task.isCancelled {
                self.metrics.abandoned.increment()
                return  // stays pending; another consumer takes it over after the visibility timeout
            }
            message.attempt += 1
            message.lastError = describeError(failure)
        }
    }

    /// Waits before the next try of a message whose handler failed transiently.
    /// - Returns: False when the consumer is stopping: the message was handed back to the group for another
    ///   consumer (never acknowledged).
    private func waitOutTransientFailure(_ delivery: Delivery, failure: any Error, count: Int) async -> Bool {
        self.metrics.transientFailures.increment()
        if count == 1 || count % 20 == 0 {
            self.logger.warning(
                "queue handler failed transiently; the message waits and is tried again",
                metadata: [
                    "queue.message": .string(delivery.message.id), "queue.type": .string(delivery.message.type),
                    "queue.transient_failures": .stringConvertible(count), "error": "\(failure)",
                ]
            )
        }
        let delay = self.configuration.transientBackoff.delay(after: count)
        if await self.shutdown.wait(upTo: delay) || Task.isCancelled {
            self.metrics.abandoned.increment()
            if !Task.isCancelled && !self.wasAbandoned { await self.handBack([delivery]) }
            return false
        }
        return true
    }

    static func backoff(_ failures: Int) -> Duration {
        .milliseconds(min(2_000, 50 << min(max(failures, 1), 6)))
    }
}
