/// Settings shared by all jobs of a ``Scheduler``.
public struct SchedulerConfiguration: Sendable {
    /// Prefix of every Redis key the scheduler writes (`<prefix>{<job>}:last`, `:current`, `:history`).
    public var keyPrefix: String = "scheduler:"
    /// This instance's name, recorded with each run (use the service's instance id).
    public var instance: String = "scheduler"
    /// How many finished runs each job's history keeps.
    public var historyLimit: Int = 50
    /// On graceful shutdown, running jobs get this long to finish before they are cancelled.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// With ``ScheduledJob/MissedTicks/skip``, a tick found this late (beyond the job's start jitter) is skipped.
    public var missedTickTolerance: Duration = .seconds(1)
    /// How far back start-up looks for a missed tick (``ScheduledJob/MissedTicks/runOnce``).
    public var missedTickLookback: Duration = .seconds(7 * 24 * 3600)

    /// Creates the default settings.
    public init() {}
}
