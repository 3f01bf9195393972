/// How a consumer group orders the messages it handles.
public enum QueueOrdering: Sendable, Hashable {
    /// Messages are handled concurrently, in no particular order.
    case none
    /// Within one consumer service, messages with the same ``QueueMessage/key`` are handled one at a time in the
    /// order the service received them, and a failing one is retried in place (its key waits, others go on).
    /// Messages without a key are handled concurrently. Across several services of one group this holds only
    /// with ``QueueConsumerConfiguration/exclusive`` (see `docs/queue.md`).
    case perKey
}

/// Where a new consumer group starts reading a topic.
public enum QueueGroupStart: Sendable, Hashable {
    /// Everything still in the stream (up to the retention): nothing published before the group existed is lost.
    case beginning
    /// Only messages published after the group was created.
    case newMessages
}

/// Settings of a ``QueueConsumer``; every field has a default.
public struct QueueConsumerConfiguration: Sendable {
    /// Handlers running at once in this consumer service. It also bounds what the service holds: each read asks
    /// for no more than the free slots (per stream: the topic and the group's retry stream).
    public var concurrency: Int = 16
    /// The most entries one `XREADGROUP` asks for (also bounded by the free handler slots).
    public var readBatchSize: Int = 128
    /// How long one `XREADGROUP ... BLOCK` waits for new messages before asking again.
    public var blockTimeout: Duration = .seconds(2)
    /// Retries of messages whose handler threw a failure of the message's own (see ``classifyFailure``).
    public var retry: RetryPolicy = .init()
    /// Decides whether a handler's error is the message's fault (counts toward ``RetryPolicy/maxAttempts``) or the
    /// infrastructure's (waited out with ``transientBackoff``, never dead-lettered). Defaults to
    /// ``QueueFailureKind/classify(_:)``; a service adds its own dependencies' unavailability errors.
    public var classifyFailure: @Sendable (any Error) -> QueueFailureKind = QueueFailureKind.classify
    /// The wait before trying a message again after a transient failure: grows with each consecutive transient
    /// failure of the message, with jitter, up to its maximum delay (its attempt limit is not used).
    public var transientBackoff = RetryPolicy(
        maxAttempts: .max,
        initialDelay: .milliseconds(250),
        maximumDelay: .seconds(30),
        minimumDelay: .milliseconds(100)
    )
    /// A message delivered to a consumer that neither acknowledged it nor renewed it for this long is taken over
    /// (`XAUTOCLAIM`) by another consumer of the group. Handlers may run longer: the service renews the messages
    /// it holds (see ``heartbeatInterval``).
    public var visibilityTimeout: Duration = .seconds(30)
    /// How often held messages are renewed (`XCLAIM ... JUSTID` by their owner); defaults to a third of the
    /// visibility timeout.
    public var heartbeatInterval: Duration?
    /// How often the service looks for messages abandoned by dead consumers; defaults to half the visibility
    /// timeout, at most 5 s.
    public var reclaimInterval: Duration?
    /// A message delivered this many times without an outcome (its consumers crashed or stalled while holding it)
    /// goes to the dead letters instead of being delivered again: the guard against a message that kills every
    /// consumer it reaches. Failures a handler reports do not count here (they count toward
    /// ``RetryPolicy/maxAttempts``, or not at all when transient), so keep it well above the number of crashes an
    /// unlucky message can meet in an outage.
    public var maxDeliveries: Int = 10
    /// How often the group's delayed set is looked at for due retries while nothing in it is due sooner: a retry
    /// is moved back into the group's retry stream when it is due if that is sooner, otherwise at most this long
    /// after. Each look is one script; an idle consumer makes one per interval.
    public var promotionInterval: Duration = .seconds(1)
    /// On graceful shutdown, how long in-flight handlers may still run; those still running afterwards are
    /// cancelled and their messages stay pending (never acknowledged) for another consumer to take over.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Ordering of handling.
    public var ordering: QueueOrdering = .none
    /// When true, one consumer service of the group is active at a time (a lease in Redis); the others stand by
    /// and take over when it stops or dies, first finishing what it left pending, in stream order. With
    /// ``QueueOrdering/perKey`` this makes per-key order hold across instances (see `docs/queue.md`).
    public var exclusive: Bool = false
    /// The active consumer's lease in exclusive mode, renewed every third of it. A standby takes over at most
    /// this long after the active consumer died, and within half a second of a clean stop.
    public var exclusiveLease: Duration = .seconds(10)
    /// Where the group starts when it does not exist yet.
    public var startAt: QueueGroupStart = .beginning
    /// This service's consumer name in the group; defaults to `<host>-<pid>-<random>` (unique per run).
    public var consumerName: String?
    /// How often the lag, pending, delayed and dead-letter gauges are refreshed; nil turns them off.
    public var gaugeInterval: Duration? = .seconds(5)
    /// Consumers of the group with nothing pending and idle longer than this are removed from the group (dead
    /// instances leave their names behind); nil keeps them.
    public var removeIdleConsumersAfter: Duration? = .seconds(3600)

    /// Creates a configuration with defaults.
    public init() {}

    var effectiveHeartbeatInterval: Duration {
        self.heartbeatInterval ?? max(self.visibilityTimeout / 3, .milliseconds(10))
    }

    var effectiveReclaimInterval: Duration {
        self.reclaimInterval ?? max(min(self.visibilityTimeout / 2, .seconds(5)), .milliseconds(10))
    }
}
