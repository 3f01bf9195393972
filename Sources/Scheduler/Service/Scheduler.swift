public import Foundation
public import Logging
public import RedisClient
public import RedisLock
public import ServiceLifecycle
import Synchronization
import Tracing

/// Runs jobs on intervals or cron schedules so that, across every instance running the same jobs, each tick
/// runs exactly once.
///
/// Every instance's scheduler wakes at each tick. To run it, an instance must (1) take the job's lock
/// (`RedisLocks.tryAcquire`, lease ``ScheduledJob/lockAtMostFor``) — so runs of a job never overlap — and
/// (2) claim the tick: a per-job watermark in Redis records the newest tick claimed, and a tick at or before
/// it is never run again. An instance whose clock is behind therefore cannot repeat a tick that a faster
/// instance already ran, however late it wakes; ``ScheduledJob/lockAtLeastFor`` additionally keeps the lock
/// taken for a while after a quick run.
///
/// Run it as a `Service` after its `RedisClient` and `RedisLocks`. On graceful shutdown it stops scheduling,
/// lets running jobs finish for up to ``SchedulerConfiguration/shutdownGracePeriod``, then cancels them.
///
/// ```swift
/// let nightly = ScheduledJob("daily-sales", schedule: try .cron("5 0 * * *"), missedTicks: .runOnce) { context in
///     try await aggregate(day: context.tick)
/// }
/// let scheduler = try Scheduler(jobs: [nightly], client: redis, locks: locks, configuration: configuration, logger: logger)
/// ```
public final class Scheduler: Service, Sendable {
    /// The settings.
    public let configuration: SchedulerConfiguration
    /// The jobs, in the order given.
    public let jobs: [ScheduledJob]
    let locks: RedisLocks
    let store: SchedulerStore
    let clock: any WallClock
    let logger: Logger
    let metrics = SchedulerMetrics()
    let stop = StopSignal()
    private let started = Mutex(false)
    private let manualRuns: AsyncStream<ManualRun>
    private let manualContinuation: AsyncStream<ManualRun>.Continuation

    struct ManualRun: Sendable {
        let job: ScheduledJob
        let run: JobRun
        let lease: RedisLockLease
        /// The trace context of the caller of ``Scheduler/runNow(_:)``: the run's span is its child.
        let context: ServiceContext?
    }

    /// Creates a scheduler. Nothing runs until ``run()``.
    /// - Parameters:
    ///   - jobs: The jobs (unique names).
    ///   - client: The Redis client for the scheduler's state.
    ///   - locks: The lock manager that guards runs (run it as a service too).
    ///   - configuration: Settings.
    ///   - logger: Where to log.
    ///   - clock: Where the time of day comes from (ticks are computed from it).
    /// - Throws: ``SchedulerError`` for an invalid or duplicate job.
    public init(
        jobs: [ScheduledJob],
        client: RedisClient,
        locks: RedisLocks,
        configuration: SchedulerConfiguration = .init(),
        logger: Logger,
        clock: any WallClock = SystemWallClock()
    ) throws {
        var names = Set<String>()
        for job in jobs {
            try job.validate()
            guard names.insert(job.name).inserted else { throw SchedulerError.duplicateJob(job.name) }
        }
        self.jobs = jobs
        self.configuration = configuration
        self.locks = locks
        self.store = SchedulerStore(
            client: client,
            prefix: configuration.keyPrefix,
            historyLimit: max(1, configuration.historyLimit)
        )
        self.logger = logger
        self.clock = clock
        (self.manualRuns, self.manualContinuation) = AsyncStream.makeStream(
            of: ManualRun.self,
            bufferingPolicy: .unbounded
        )
    }

    /// The job with this name, if any.
    /// - Parameter name: The job's name.
    public func job(named name: String) -> ScheduledJob? {
        self.jobs.first { $0.name == name }
    }

    func lockName(_ job: String) -> String { "job:\(job)" }

    // MARK: Service

    /// Runs every job's schedule until graceful shutdown (or cancellation), plus manual runs.
    public func run() async throws {
        self.started.withLock { $0 = true }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for job in self.jobs {
                    group.addTask { await self.loop(job) }
                }
                group.addTask { await self.runManualRuns() }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.shutDown()
        }
        self.shutDown()
    }

    private func shutDown() {
        self.stop.raise()
        self.manualContinuation.finish()
    }

    private func runManualRuns() async {
        await withTaskGroup(of: Void.self) { group in
            // Ends when the stream is finished (shutdown); cancellation ends it too.
            for await manual in self.manualRuns {
                group.addTask {
                    await self.execute(
                        manual.job,
                        run: manual.run,
                        lease: manual.lease,
                        startRecorded: true,
                        parent: manual.context
                    )
                }
            }
            await group.waitForAll()
        }
    }

    // MARK: Manual runs

    /// Starts a run of `name` now on this instance, outside its schedule, if the job is not running anywhere.
    ///
    /// The run takes the same lock as scheduled runs (so it never overlaps one) but claims no tick: the next
    /// scheduled tick still runs. It returns once the lock is taken and the run recorded as the job's current one
    /// (so ``status(lastRuns:)`` on any instance shows it from then on, unless recording failed: then the run goes
    /// on and the failure is logged); the work continues in the background under this service (and its graceful
    /// shutdown).
    /// - Parameter name: The job's name.
    /// - Returns: The run as it started (its id, instance and start time).
    /// - Throws: ``SchedulerError/unknownJob(_:)``, ``SchedulerError/alreadyRunning(_:)``,
    ///   ``SchedulerError/notRunning``, or a Redis error.
    public func runNow(_ name: String) async throws -> JobRun {
        guard let job = self.job(named: name) else { throw SchedulerError.unknownJob(name) }
        guard self.started.withLock({ $0 }), !self.stop.isRaised else { throw SchedulerError.notRunning }
        guard let lease = try await self.locks.tryAcquire(self.lockName(name), lease: job.lockAtMostFor) else {
            throw SchedulerError.alreadyRunning(name)
        }
        let now = self.clock.now()
        let run = JobRun(
            runID: UUID().uuidString.lowercased(),
            job: name,
            tick: now,
            manual: true,
            instance: self.configuration.instance,
            startedAt: now
        )
        await self.recordStart(of: run, job: job, logger: self.logger)
        switch self.manualContinuation.yield(
            ManualRun(job: job, run: run, lease: lease, context: ServiceContext.current)
        ) {
        case .enqueued:
            return run
        default:
            // Stopping meanwhile: the run recorded above ends at once in the history.
            var stopped = run
            stopped.endedAt = self.clock.now()
            stopped.outcome = .interrupted
            stopped.error = "not started: the scheduler was stopping"
            try? await self.store.finished(stopped)
            _ = try? await lease.release()
            throw SchedulerError.notRunning
        }
    }

    // MARK: Pausing

    /// Pauses a job on every instance: its ticks are skipped (and not caught up after a resume) until ``resume(_:)``.
    /// A run in progress finishes; a manual run (``runNow(_:)``) still runs.
    /// - Parameters:
    ///   - name: The job's name.
    ///   - by: Who pauses it (shown with its status).
    /// - Throws: ``SchedulerError/unknownJob(_:)`` or a Redis error.
    public func pause(_ name: String, by: String) async throws {
        guard self.job(named: name) != nil else { throw SchedulerError.unknownJob(name) }
        try await self.store.pause(job: name, by: by, at: self.clock.now())
    }

    /// Resumes a paused job on every instance, from its next tick.
    /// - Parameter name: The job's name.
    /// - Returns: False when it was not paused.
    /// - Throws: ``SchedulerError/unknownJob(_:)`` or a Redis error.
    @discardableResult
    public func resume(_ name: String) async throws -> Bool {
        guard self.job(named: name) != nil else { throw SchedulerError.unknownJob(name) }
        return try await self.store.resume(job: name)
    }

    // MARK: Inspection

    /// What a status page shows about one job.
    public struct JobStatus: Sendable {
        /// The job's name.
        public var name: String
        /// Its schedule, readable (`every 60s`, `cron 5 0 * * * in UTC`).
        public var schedule: String
        /// Its next tick after now (on this instance's clock), nil if it never runs again.
        public var nextRun: Date?
        /// The run in progress on any instance, if any.
        public var current: JobRun?
        /// The latest finished runs on any instance, newest first.
        public var lastRuns: [JobRun]
        /// The newest tick any instance claimed.
        public var lastClaimedTick: Date?
        /// Who paused it and when, while it is paused on every instance.
        public var paused: JobPause?
    }

    /// The status of every job, read from Redis (so it covers every instance).
    /// - Parameter lastRuns: How many finished runs to include per job.
    public func status(lastRuns: Int = 10) async throws -> [JobStatus] {
        var result: [JobStatus] = []
        let now = self.clock.now()
        for job in self.jobs {
            result.append(
                JobStatus(
                    name: job.name,
                    schedule: job.schedule.description,
                    nextRun: job.schedule.nextTick(after: now),
                    current: try await self.store.current(job: job.name),
                    lastRuns: try await self.store.history(job: job.name, limit: lastRuns),
                    lastClaimedTick: try await self.store.lastClaimedTick(job: job.name),
                    paused: try await self.store.pause(job: job.name)
                )
            )
        }
        return result
    }

    /// The latest finished runs of one job, newest first.
    /// - Parameters:
    ///   - name: The job's name.
    ///   - limit: How many.
    public func history(of name: String, limit: Int = 50) async throws -> [JobRun] {
        guard self.job(named: name) != nil else { throw SchedulerError.unknownJob(name) }
        return try await self.store.history(job: name, limit: limit)
    }

    /// Removes runs that ended before `cutoff` from every job's history (the history is also capped at
    /// ``SchedulerConfiguration/historyLimit`` runs per job).
    /// - Parameter cutoff: Runs that ended before this go.
    /// - Returns: How many runs were removed.
    @discardableResult
    public func pruneHistory(endedBefore cutoff: Date) async throws -> Int {
        var removed = 0
        for job in self.jobs {
            removed += try await self.store.prune(job: job.name, endedBefore: cutoff)
        }
        return removed
    }
}
