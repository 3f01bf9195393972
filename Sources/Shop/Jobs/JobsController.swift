public import Hummingbird
public import Scheduler

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// `GET /api/v1/admin/jobs`, `POST /api/v1/admin/jobs/{name}/run` and `POST /api/v1/admin/jobs/{name}/pause|resume`
/// (admins).
///
/// The listing reads the scheduler's state in Redis, so it shows runs of every instance; a manual run starts
/// on the instance that received the request, under the job's lock (409 while it runs anywhere).
public struct JobsController: Sendable {
    let scheduler: Scheduler
    let instanceID: String
    let schedulerRunning: Bool

    /// Creates the controller.
    /// - Parameters:
    ///   - scheduler: The scheduler (whether or not this instance runs it).
    ///   - instanceID: This instance's id.
    ///   - schedulerRunning: Whether this instance runs the scheduler (`JOBS_ENABLED`).
    public init(scheduler: Scheduler, instanceID: String, schedulerRunning: Bool) {
        self.scheduler = scheduler
        self.instanceID = instanceID
        self.schedulerRunning = schedulerRunning
    }

    /// The routes, to add under `/api/v1/admin/jobs`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.list)
        routes.post(":name/run", use: self.run)
        routes.post(":name/pause", use: self.pause)
        routes.post(":name/resume", use: self.resume)
        return routes
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [JobView], JobsMeta
    > {
        let jobs = try await self.scheduler.status(lastRuns: 10)
        return Envelope(
            data: jobs.map { status in JobView(status, job: self.scheduler.job(named: status.name)) },
            meta: JobsMeta(instance: self.instanceID, schedulerRunning: self.schedulerRunning)
        )
    }

    @Sendable func run(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        do {
            let run = try await self.scheduler.runNow(name)
            return try context.responseEncoder.encode(
                Envelope(data: JobRunView(run)),
                from: request,
                context: context
            ).withStatus(.accepted)
        } catch let error as SchedulerError where error.isUnknownJob {
            throw APIError.notFound("No job is named \(name.prefix(100)).")
        } catch let error as SchedulerError where error.isAlreadyRunning {
            throw APIError(
                status: .conflict,
                code: .jobAlreadyRunning,
                detail: "The job \(name) is running; try again when it has finished."
            )
        } catch let error as SchedulerError where error.isNotRunning {
            throw APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "This instance does not run scheduled jobs (JOBS_ENABLED=false) or is shutting down."
            )
        }
    }
}

extension JobsController {
    /// Pauses the job on every instance (stored in Redis, honoured by every scheduler at each tick): `200` with the
    /// job as the listing shows it.
    @Sendable func pause(_ request: Request, context: ShopRequestContext) async throws -> Envelope<JobView, EmptyMeta> {
        let name = context.parameters.get("name") ?? ""
        let user = try context.requireUser(role: .admin)
        return try await self.changed(name) { try await self.scheduler.pause(name, by: user.email) }
    }

    /// Resumes a paused job on every instance, from its next tick (the ticks skipped while paused are not caught up).
    @Sendable func resume(_ request: Request, context: ShopRequestContext) async throws -> Envelope<JobView, EmptyMeta>
    {
        let name = context.parameters.get("name") ?? ""
        return try await self.changed(name) { try await self.scheduler.resume(name) }
    }

    private func changed(_ name: String, _ change: () async throws -> Void) async throws -> Envelope<JobView, EmptyMeta>
    {
        do {
            try await change()
        } catch let error as SchedulerError where error.isUnknownJob {
            throw APIError.notFound("No job is named \(name.prefix(100)).")
        }
        let status = try await self.scheduler.status(lastRuns: 10).first { $0.name == name }
        guard let status else { throw APIError.notFound("No job is named \(name.prefix(100)).") }
        return Envelope(data: JobView(status, job: self.scheduler.job(named: name)))
    }
}

extension Response {
    func withStatus(_ status: HTTPResponse.Status) -> Response {
        var response = self
        response.status = status
        return response
    }
}

/// A job in `GET /api/v1/admin/jobs`.
public struct JobView: Codable, Sendable, Equatable {
    /// The job's name.
    public var name: String
    /// Its schedule (`every 300s`, `cron 5 0 * * * in UTC`).
    public var schedule: String
    /// Its next tick on this instance's clock; null if it never runs again.
    public var nextRunAt: Date?
    /// The lock's lease (how soon a dead instance's run frees the job).
    public var lockAtMostForMs: Int64
    /// How long the lock stays taken at least.
    public var lockAtLeastForMs: Int64
    /// The run timeout; null for none.
    public var timeoutMs: Int64?
    /// `skip` or `runOnce`.
    public var missedTicks: String
    /// The newest tick any instance claimed; null before the first.
    public var lastTickAt: Date?
    /// The run in progress on any instance; null when idle.
    public var running: JobRunView?
    /// The latest finished runs, newest first.
    public var lastRuns: [JobRunView]
    /// While the job is paused on every instance: who paused it and when; null otherwise.
    public var paused: JobPauseView?

    init(_ status: Scheduler.JobStatus, job: ScheduledJob?) {
        self.name = status.name
        self.schedule = status.schedule
        self.nextRunAt = status.nextRun
        self.lockAtMostForMs = job.map { Self.milliseconds($0.lockAtMostFor) } ?? 0
        self.lockAtLeastForMs = job.map { Self.milliseconds($0.lockAtLeastFor) } ?? 0
        self.timeoutMs = job?.timeout.map(Self.milliseconds)
        self.missedTicks = job?.missedTicks.rawValue ?? "skip"
        self.lastTickAt = status.lastClaimedTick
        self.running = status.current.map(JobRunView.init)
        self.lastRuns = status.lastRuns.map(JobRunView.init)
        self.paused = status.paused.map { JobPauseView(by: $0.by, at: $0.at) }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.schedule, forKey: .schedule)
        try container.encode(self.nextRunAt, forKey: .nextRunAt)
        try container.encode(self.lockAtMostForMs, forKey: .lockAtMostForMs)
        try container.encode(self.lockAtLeastForMs, forKey: .lockAtLeastForMs)
        try container.encode(self.timeoutMs, forKey: .timeoutMs)
        try container.encode(self.missedTicks, forKey: .missedTicks)
        try container.encode(self.lastTickAt, forKey: .lastTickAt)
        try container.encode(self.running, forKey: .running)
        try container.encode(self.lastRuns, forKey: .lastRuns)
        try container.encode(self.paused, forKey: .paused)
    }
}

/// Who paused a job, and when.
public struct JobPauseView: Codable, Sendable, Equatable {
    public var by: String
    public var at: Date
}

/// One run of a job.
public struct JobRunView: Codable, Sendable, Equatable {
    /// The run's id.
    public var runId: String
    /// The tick it ran for (for a manual run, when it was requested).
    public var tick: Date
    /// True when started through the API.
    public var manual: Bool
    /// The instance that ran it.
    public var instance: String
    /// When it started.
    public var startedAt: Date
    /// When it ended; null while running.
    public var endedAt: Date?
    /// `succeeded`, `failed`, `timed_out`, `interrupted` or `lease_lost`; null while running.
    public var outcome: String?
    /// The error, when it did not succeed.
    public var error: String?

    init(_ run: JobRun) {
        self.runId = run.runID
        self.tick = run.tick
        self.manual = run.manual
        self.instance = run.instance
        self.startedAt = run.startedAt
        self.endedAt = run.endedAt
        self.outcome = run.outcome?.rawValue
        self.error = run.error
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.runId, forKey: .runId)
        try container.encode(self.tick, forKey: .tick)
        try container.encode(self.manual, forKey: .manual)
        try container.encode(self.instance, forKey: .instance)
        try container.encode(self.startedAt, forKey: .startedAt)
        try container.encode(self.endedAt, forKey: .endedAt)
        try container.encode(self.outcome, forKey: .outcome)
        try container.encode(self.error, forKey: .error)
    }
}

/// `meta` of `GET /api/v1/admin/jobs`.
public struct JobsMeta: Codable, Sendable, Equatable {
    /// The instance that answered.
    public var instance: String
    /// Whether that instance runs the scheduler.
    public var schedulerRunning: Bool
}
