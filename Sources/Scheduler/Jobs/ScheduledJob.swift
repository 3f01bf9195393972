/// A job: what runs, when, and how its runs are guarded.
///
/// Every instance of a service registers the same jobs; for each tick exactly one instance runs the job.
/// Runs of one job never overlap across the fleet: a run holds the job's lock, renewed while it works.
public struct ScheduledJob: Sendable {
    /// What happens when an instance wakes up late and finds ticks it did not run.
    public enum MissedTicks: String, Sendable, Hashable {
        /// Run nothing for them; run the latest tick only if it is at most the scheduler's
        /// ``SchedulerConfiguration/missedTickTolerance`` (plus the job's jitter) old.
        case skip
        /// Run the latest missed tick once (never once per missed tick). Also applies at start-up: a job whose
        /// last claimed tick is older than the latest due tick runs that tick at once.
        case runOnce
    }

    /// The job's name: 1–100 characters of `A-Z a-z 0-9 . _ : -`. It names the job's Redis keys, lock, metrics
    /// and admin URLs, so keep it stable.
    public let name: String
    /// When it runs.
    public var schedule: Schedule
    /// The lock's lease: if the instance running the job dies, the job is free again after at most this long.
    /// While the instance lives, the lease is renewed, so a run may last longer (up to ``timeout``).
    public var lockAtMostFor: Duration
    /// The lock stays taken at least this long after a scheduled run started, even if the run finished
    /// sooner. Keep it longer than the clock difference between instances and shorter than the interval.
    /// Manual runs claim no tick and release the lock when they finish.
    public var lockAtLeastFor: Duration
    /// A run is cancelled after this long (nil: never) and recorded as timed out.
    public var timeout: Duration?
    /// The missed-tick policy.
    public var missedTicks: MissedTicks
    /// Each instance waits a random delay up to this long after a tick before trying to claim it, to spread
    /// load (and which instance wins).
    public var startJitter: Duration
    /// The work. It can check `Task.isCancelled` (timeouts, shutdown past the grace period, a lost lease).
    public var work: @Sendable (JobContext) async throws -> Void

    /// Defines a job.
    /// - Parameters:
    ///   - name: The job's name (see ``name``).
    ///   - schedule: When it runs.
    ///   - lockAtMostFor: The lock's lease (see ``lockAtMostFor``).
    ///   - lockAtLeastFor: The shortest time the lock stays taken (see ``lockAtLeastFor``).
    ///   - timeout: The longest a run may take; nil for none.
    ///   - missedTicks: The missed-tick policy.
    ///   - startJitter: The largest random delay before claiming a tick.
    ///   - work: The work.
    public init(
        _ name: String,
        schedule: Schedule,
        lockAtMostFor: Duration = .seconds(60),
        lockAtLeastFor: Duration = .zero,
        timeout: Duration? = .seconds(600),
        missedTicks: MissedTicks = .skip,
        startJitter: Duration = .zero,
        work: @escaping @Sendable (JobContext) async throws -> Void
    ) {
        self.name = name
        self.schedule = schedule
        self.lockAtMostFor = lockAtMostFor
        self.lockAtLeastFor = lockAtLeastFor
        self.timeout = timeout
        self.missedTicks = missedTicks
        self.startJitter = startJitter
        self.work = work
    }

    /// Throws ``SchedulerError/invalidJob(_:)`` when the definition cannot work.
    func validate() throws {
        guard !self.name.isEmpty, self.name.utf8.count <= 100,
            self.name.utf8.allSatisfy({ Self.nameBytes.contains($0) })
        else {
            throw SchedulerError.invalidJob("name \"\(self.name.prefix(100))\" must be 1-100 of A-Z a-z 0-9 . _ : -")
        }
        guard self.lockAtMostFor >= .milliseconds(1) else {
            throw SchedulerError.invalidJob("\(self.name): lockAtMostFor must be at least 1 ms")
        }
        guard self.lockAtLeastFor >= .zero, self.startJitter >= .zero else {
            throw SchedulerError.invalidJob("\(self.name): lockAtLeastFor and startJitter cannot be negative")
        }
        if let timeout = self.timeout, timeout <= .zero {
            throw SchedulerError.invalidJob("\(self.name): timeout must be positive")
        }
        if case .interval(let milliseconds) = self.schedule.kind {
            let interval = Duration.milliseconds(milliseconds)
            guard self.lockAtLeastFor < interval else {
                throw SchedulerError.invalidJob(
                    "\(self.name): lockAtLeastFor (\(self.lockAtLeastFor)) must be shorter than the interval (\(interval))"
                )
            }
        }
    }

    private static let nameBytes: Set<UInt8> = Set(
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-".utf8)
    )
}
