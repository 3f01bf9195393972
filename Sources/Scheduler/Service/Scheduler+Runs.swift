import Foundation
import Logging
import RedisLock
import Tracing

extension Scheduler {
    /// Why a run was stopped from outside its work.
    private enum RunStop: Error {
        case timedOut, gracePeriodOver
    }

    /// One job's schedule on this instance: wait for each tick, then try to claim and run it.
    func loop(_ job: ScheduledJob) async {
        var previous: Date?
        if job.missedTicks == .runOnce {
            previous = await self.catchUpAtStart(job)
        }
        while !self.stop.isRaised && !Task.isCancelled {
            guard let next = job.schedule.nextTick(after: previous ?? self.clock.now()) else {
                self.logger.info("job has no further ticks", metadata: ["job": "\(job.name)"])
                return
            }
            let jitter = Self.randomDuration(upTo: job.startJitter)
            guard await self.sleep(until: next.addingTimeInterval(Double(jitter.schedulerMilliseconds) / 1000)) else {
                return
            }
            let now = self.clock.now()
            // Ticks that came and went while this instance slept too long or ran a long job.
            let latest = job.schedule.latestTick(atOrBefore: now, notBefore: next) ?? next
            let missed = Self.ticksBetween(next, latest, schedule: job.schedule)
            previous = latest
            var late = Duration.milliseconds(now.epochMilliseconds - latest.epochMilliseconds)
            late -= jitter
            if job.missedTicks == .skip && late > self.configuration.missedTickTolerance {
                self.metrics.skipped(job: job.name, reason: .missed, count: missed + 1)
                self.logger.warning(
                    "tick skipped: woke up too late",
                    metadata: ["job": "\(job.name)", "tick": "\(latest)", "late": "\(late)"]
                )
                continue
            }
            if missed > 0 { self.metrics.skipped(job: job.name, reason: .missed, count: missed) }
            await self.attempt(job, tick: latest)
        }
    }

    /// With ``ScheduledJob/MissedTicks/runOnce``: if a tick fell due since the newest tick anyone claimed
    /// (the whole fleet was down, say), run the latest such tick now. Returns the tick considered.
    private func catchUpAtStart(_ job: ScheduledJob) async -> Date? {
        let now = self.clock.now()
        guard let last = try? await self.store.lastClaimedTick(job: job.name) else { return nil }
        let lookback = now.addingTimeInterval(
            -Double(self.configuration.missedTickLookback.schedulerMilliseconds) / 1000
        )
        let after = max(last.addingTimeInterval(0.001), lookback)
        guard let due = job.schedule.latestTick(atOrBefore: now, notBefore: after) else { return nil }
        self.logger.info("running a missed tick at start-up", metadata: ["job": "\(job.name)", "tick": "\(due)"])
        await self.attempt(job, tick: due)
        return due
    }

    /// Sleeps until the wall clock reads `date`, checking it again after each sleep (clocks can be adjusted).
    /// - Returns: False when stopped or cancelled first.
    private func sleep(until date: Date) async -> Bool {
        while true {
            let remaining = date.epochMilliseconds - self.clock.now().epochMilliseconds
            if remaining <= 0 { return !self.stop.isRaised && !Task.isCancelled }
            // Re-read the clock at least every minute.
            guard await self.stop.sleep(for: .milliseconds(min(remaining, 60_000))) else { return false }
        }
    }

    /// Takes the job's lock and claims the tick; runs it if both succeed.
    func attempt(_ job: ScheduledJob, tick: Date) async {
        let lease: RedisLockLease
        do {
            guard let taken = try await self.locks.tryAcquire(self.lockName(job.name), lease: job.lockAtMostFor) else {
                self.metrics.skipped(job: job.name, reason: .held)
                return
            }
            lease = taken
        } catch {
            self.metrics.skipped(job: job.name, reason: .error)
            self.logger.warning(
                "could not claim tick: Redis unavailable",
                metadata: ["job": "\(job.name)", "tick": "\(tick)", "error": "\(error)"]
            )
            return
        }
        let claim: SchedulerStore.Claim
        do {
            claim = try await self.store.claim(job: job.name, tick: tick)
        } catch {
            _ = try? await lease.release()
            self.metrics.skipped(job: job.name, reason: .error)
            self.logger.warning(
                "could not claim tick: Redis unavailable",
                metadata: ["job": "\(job.name)", "tick": "\(tick)", "error": "\(error)"]
            )
            return
        }
        switch claim {
        case .claimed:
            break
        case .taken:
            _ = try? await lease.release()
            self.metrics.skipped(job: job.name, reason: .claimed)
            return
        case .paused:
            _ = try? await lease.release()
            self.metrics.skipped(job: job.name, reason: .paused)
            return
        }
        let now = self.clock.now()
        let run = JobRun(
            runID: UUID().uuidString.lowercased(),
            job: job.name,
            tick: tick,
            manual: false,
            instance: self.configuration.instance,
            startedAt: now
        )
        await self.execute(job, run: run, lease: lease)
    }

    /// Records the run as the job's current one (what ``status(lastRuns:)`` shows on every instance); a failure
    /// is logged and the run goes on.
    func recordStart(of run: JobRun, job: ScheduledJob, logger: Logger) async {
        do {
            let ttl = (job.timeout ?? job.lockAtMostFor) + self.configuration.shutdownGracePeriod
            try await self.store.started(run, ttl: ttl)
        } catch {
            logger.debug("could not record the run's start", metadata: ["error": "\(error)"])
        }
    }

    /// Runs the work under the lease (renewed while it runs), with the job's timeout and the shutdown grace
    /// period, and records the outcome.
    /// `startRecorded`: the run's start is in the store already (a manual run records it before ``runNow(_:)``
    /// returns).
    ///
    /// The run is a span, `job <name>` (a child of the current span for a manual run started by a traced request, a
    /// root otherwise), with the job's name, run id, tick and outcome; the work's Redis and database calls are its
    /// children.
    func execute(
        _ job: ScheduledJob,
        run: JobRun,
        lease: RedisLockLease,
        startRecorded: Bool = false,
        parent: ServiceContext? = nil
    ) async {
        let span = startSpan("job \(job.name)", context: parent ?? .topLevel, ofKind: .internal)
        if span.isRecording {
            span.attributes["job.name"] = "\(job.name)"
            span.attributes["job.run_id"] = run.runID
            span.attributes["job.tick"] = Int(run.tick.timeIntervalSince1970)
            span.attributes["job.manual"] = run.manual
            span.attributes["job.instance"] = self.configuration.instance
        }
        let outcome = await ServiceContext.withValue(span.context) {
            await self.executeTraced(job, run: run, lease: lease, startRecorded: startRecorded)
        }
        if span.isRecording {
            span.attributes["job.outcome"] = outcome.outcome.rawValue
            if outcome.outcome != .succeeded {
                span.setStatus(SpanStatus(code: .error, message: outcome.error))
            }
        }
        span.end()
    }

    private func executeTraced(
        _ job: ScheduledJob,
        run: JobRun,
        lease: RedisLockLease,
        startRecorded: Bool
    ) async -> (outcome: JobOutcome, error: String?) {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name)"
        logger[metadataKey: "run"] = "\(run.runID)"
        logger[metadataKey: "tick"] = "\(run.tick)"
        let context = JobContext(
            job: job.name,
            tick: run.tick,
            isManual: run.manual,
            runID: run.runID,
            instance: self.configuration.instance,
            lease: lease,
            logger: logger,
            scheduler: self
        )
        if !startRecorded { await self.recordStart(of: run, job: job, logger: logger) }
        logger.debug("job started")
        let start = ContinuousClock.now
        var outcome = JobOutcome.succeeded
        var errorText: String?
        do {
            // The minimum hold protects a tick from being run twice; a manual run claims no tick.
            let hold = run.manual ? Duration.zero : job.lockAtLeastFor
            try await self.locks.withLease(lease, lease: job.lockAtMostFor, holdAtLeast: hold) { _ in
                try await self.perform(job, context: context)
            }
        } catch RunStop.timedOut {
            outcome = .timedOut
            errorText = "cancelled after the timeout of \(job.timeout ?? .zero)"
        } catch RunStop.gracePeriodOver {
            outcome = .interrupted
            errorText = "cancelled: shutdown grace period over"
        } catch let error as RedisLockError where error.isLeaseLost {
            outcome = .leaseLost
            errorText = "\(error)"
        } catch is CancellationError {
            outcome = .interrupted
            errorText = "cancelled"
        } catch {
            outcome = .failed
            errorText = String(describing: error)
        }
        let elapsed = ContinuousClock.now - start
        self.metrics.finished(job: job.name, outcome: outcome, duration: elapsed)
        var finished = run
        finished.endedAt = self.clock.now()
        finished.outcome = outcome
        finished.error = errorText.map { String($0.prefix(1000)) }
        if outcome == .succeeded {
            logger.info("job succeeded", metadata: ["duration": "\(elapsed)"])
        } else {
            logger.warning(
                "job did not succeed",
                metadata: ["outcome": "\(outcome.rawValue)", "error": "\(errorText ?? "")", "duration": "\(elapsed)"]
            )
        }
        do {
            try await self.store.finished(finished)
        } catch {
            logger.warning("could not record the run", metadata: ["error": "\(error)"])
        }
        return (outcome, errorText)
    }

    /// The work, raced against the timeout and against shutdown plus the grace period.
    private func perform(_ job: ScheduledJob, context: JobContext) async throws {
        let grace = self.configuration.shutdownGracePeriod
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await job.work(context) }
            if let timeout = job.timeout {
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw RunStop.timedOut
                }
            }
            group.addTask {
                await self.stop.wait()
                try Task.checkCancellation()
                try await Task.sleep(for: grace)
                throw RunStop.gracePeriodOver
            }
            // The first child to finish decides: the work's result, or one of the two stops.
            try await group.next()
            group.cancelAll()
        }
    }

    static func randomDuration(upTo limit: Duration) -> Duration {
        let milliseconds = limit.schedulerMilliseconds
        guard milliseconds > 0 else { return .zero }
        return .milliseconds(Int64.random(in: 0...milliseconds))
    }

    /// How many ticks lie strictly before `latest`, starting at `first` (cheap for intervals; cron counts up
    /// to a bound).
    static func ticksBetween(_ first: Date, _ latest: Date, schedule: Schedule) -> Int {
        guard latest > first else { return 0 }
        switch schedule.kind {
        case .interval(let interval):
            return Int((latest.epochMilliseconds - first.epochMilliseconds) / interval)
        case .cron:
            var count = 0
            var cursor = first
            while count < 10_000, let next = schedule.nextTick(after: cursor), next <= latest {
                count += 1
                cursor = next
            }
            return count
        }
    }
}
