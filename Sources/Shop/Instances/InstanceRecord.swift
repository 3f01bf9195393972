#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// What one `shop serve` says about itself in the instance registry (``InstanceRegistry``), and how a reader judges
/// its heartbeat. Pure: encoding, the liveness rule and the order of a listing, without Redis.
public struct InstanceRecord: Codable, Sendable, Equatable {
    /// `INSTANCE_ID`.
    public var id: String
    /// The build's version (``InstanceRecord/buildVersion``).
    public var version: String
    /// The host name and process id.
    public var host: String
    public var pid: Int
    /// The port the HTTP server listens on (0 until it is bound).
    public var httpPort: Int
    /// `standalone`, `cluster` or `sentinel`.
    public var redisMode: String
    /// Whether this instance runs the scheduler (`JOBS_ENABLED`), the queue consumers (`QUEUE_CONSUMERS_ENABLED`)
    /// and the outbox relay (`OUTBOX_RELAY_ENABLED`).
    public var scheduler: Bool
    public var queueConsumers: Bool
    public var outboxRelay: Bool
    /// When it started, milliseconds since the Unix epoch.
    public var startedAtMilliseconds: Int64
    /// How many of its tasks wait for each lock, at its last heartbeat (locks nobody waits for are left out; nil from
    /// an instance of a build that did not report them).
    public var lockWaiters: [String: Int]?

    /// The version this build reports.
    public static let buildVersion = "0.1.0"

    /// Creates a record.
    public init(
        id: String,
        version: String,
        host: String,
        pid: Int,
        httpPort: Int,
        redisMode: String,
        scheduler: Bool,
        queueConsumers: Bool,
        outboxRelay: Bool,
        startedAtMilliseconds: Int64,
        lockWaiters: [String: Int]? = nil
    ) {
        self.id = id
        self.version = version
        self.host = host
        self.pid = pid
        self.httpPort = httpPort
        self.redisMode = redisMode
        self.scheduler = scheduler
        self.queueConsumers = queueConsumers
        self.outboxRelay = outboxRelay
        self.startedAtMilliseconds = startedAtMilliseconds
        self.lockWaiters = lockWaiters
    }
}

/// How a reader judges a heartbeat: `live` while the last one is at most `missingAfter` old, `missing` after that,
/// forgotten (left out, and pruned by the next heartbeat of any instance) after `forgetAfter`.
public struct InstanceLiveness: Sendable, Equatable {
    /// How often each instance writes its heartbeat.
    public var interval: Duration
    /// How old a heartbeat may be before the instance is shown as missing (three intervals: two lost heartbeats
    /// are not a missing instance).
    public var missingAfter: Duration { self.interval * 3 }
    /// How long a missing instance stays listed.
    public var forgetAfter: Duration

    /// Creates the rule.
    public init(interval: Duration, forgetAfter: Duration = .seconds(3600)) {
        self.interval = interval
        self.forgetAfter = max(forgetAfter, interval * 3)
    }

    /// The status of a heartbeat `lastSeen` milliseconds since the epoch, at `now`; nil when it is to be forgotten.
    public func status(lastSeen: Int64, now: Int64) -> InstanceStatus? {
        let age = now - lastSeen
        if age > self.forgetAfter.milliseconds { return nil }
        return age > self.missingAfter.milliseconds ? .missing : .live
    }
}

/// Whether an instance's heartbeat is recent.
public enum InstanceStatus: String, Codable, Sendable {
    case live
    case missing
}
