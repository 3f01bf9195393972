public import Foundation

/// How a run ended.
public enum JobOutcome: String, Sendable, Hashable, Codable {
    /// The work returned normally.
    case succeeded
    /// The work threw.
    case failed
    /// The work took longer than the job's timeout and was cancelled.
    case timedOut = "timed_out"
    /// The instance shut down and the grace period ran out before the work finished.
    case interrupted
    /// The lock's lease was lost while the work ran (the work was cancelled).
    case leaseLost = "lease_lost"
}

/// One run of a job, as kept in the run history.
public struct JobRun: Sendable, Hashable, Codable {
    /// The run's id.
    public var runID: String
    /// The job's name.
    public var job: String
    /// The tick it ran for (for manual runs, when it was requested).
    public var tick: Date
    /// True for a manual run.
    public var manual: Bool
    /// The instance that ran it.
    public var instance: String
    /// When the work started.
    public var startedAt: Date
    /// When it ended (nil while running).
    public var endedAt: Date?
    /// How it ended (nil while running).
    public var outcome: JobOutcome?
    /// The error's description when it failed.
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case runID, job, tick, manual, instance, startedAt, endedAt, outcome, error
    }

    /// Creates a record.
    /// - Parameters:
    ///   - runID: The run's id.
    ///   - job: The job's name.
    ///   - tick: The tick.
    ///   - manual: True for a manual run.
    ///   - instance: The instance.
    ///   - startedAt: The start.
    ///   - endedAt: The end.
    ///   - outcome: The outcome.
    ///   - error: The error text.
    public init(
        runID: String,
        job: String,
        tick: Date,
        manual: Bool,
        instance: String,
        startedAt: Date,
        endedAt: Date? = nil,
        outcome: JobOutcome? = nil,
        error: String? = nil
    ) {
        self.runID = runID
        self.job = job
        self.tick = tick
        self.manual = manual
        self.instance = instance
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.runID = try container.decode(String.self, forKey: .runID)
        self.job = try container.decode(String.self, forKey: .job)
        self.tick = Date(epochMilliseconds: try container.decode(Int64.self, forKey: .tick))
        self.manual = try container.decode(Bool.self, forKey: .manual)
        self.instance = try container.decode(String.self, forKey: .instance)
        self.startedAt = Date(epochMilliseconds: try container.decode(Int64.self, forKey: .startedAt))
        self.endedAt = try container.decodeIfPresent(Int64.self, forKey: .endedAt).map(Date.init(epochMilliseconds:))
        self.outcome = try container.decodeIfPresent(JobOutcome.self, forKey: .outcome)
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    /// Stored with dates as Unix milliseconds, so the history's Lua scripts can compare them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.runID, forKey: .runID)
        try container.encode(self.job, forKey: .job)
        try container.encode(self.tick.epochMilliseconds, forKey: .tick)
        try container.encode(self.manual, forKey: .manual)
        try container.encode(self.instance, forKey: .instance)
        try container.encode(self.startedAt.epochMilliseconds, forKey: .startedAt)
        try container.encodeIfPresent(self.endedAt?.epochMilliseconds, forKey: .endedAt)
        try container.encodeIfPresent(self.outcome, forKey: .outcome)
        try container.encodeIfPresent(self.error, forKey: .error)
    }
}

/// A job paused on every instance: who paused it and when.
public struct JobPause: Codable, Sendable, Equatable {
    /// Who paused it (an operator's e-mail, an instance).
    public var by: String
    /// When.
    public var at: Date

    /// Creates a pause record.
    public init(by: String, at: Date) {
        self.by = by
        self.at = at
    }
}
