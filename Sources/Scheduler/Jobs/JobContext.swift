public import Foundation
public import Logging
public import RedisLock

/// What a running job knows about its run.
public struct JobContext: Sendable {
    /// The job's name.
    public let job: String
    /// The tick this run is for; for a manual run, the moment it was requested.
    public let tick: Date
    /// True when started by ``Scheduler/runNow(_:)`` rather than by the schedule.
    public let isManual: Bool
    /// A unique id for this run (it appears in the run history).
    public let runID: String
    /// The instance running it.
    public let instance: String
    /// The job lock's lease. Pass ``RedisLockLease/fencingToken`` to resources that can refuse a stale
    /// holder, or call ``RedisLockLease/checkHeld()`` between steps.
    public let lease: RedisLockLease
    /// A logger with the job, run and tick as metadata.
    public let logger: Logger
    /// The scheduler running the job (for jobs that maintain it, such as pruning its run history).
    public let scheduler: Scheduler
}
