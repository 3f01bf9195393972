/// How long a topic's stream keeps entries. Trimming is approximate (`~`): Redis removes whole radix-tree
/// nodes, so a stream holds somewhat more than the limit, never less.
public enum StreamRetention: Sendable, Hashable {
    /// Keep about this many entries (`XADD ... MAXLEN ~ n`).
    case maxLength(Int)
    /// Keep entries younger than this (`XADD ... MINID ~ <now - age>`), by the publisher's clock.
    case maxAge(Duration)
    /// Never trim.
    case unlimited
}

/// Settings shared by producers, consumers and the admin API of one ``StreamQueue``; every field has a default.
public struct StreamQueueConfiguration: Sendable {
    /// Prefix of every key. Topic `t` lives under `<prefix>{t}:` (see `docs/queue.md`).
    public var keyPrefix: String = "queue:"
    /// Retention of topics not listed in ``topicRetention``.
    ///
    /// Trimming removes the oldest entries whether or not every group has read them: keep the retention well
    /// above the largest backlog a group may build up (a consumer down for a while), or use ``StreamRetention/maxAge(_:)``.
    public var retention: StreamRetention = .maxLength(1_000_000)
    /// Retention per topic.
    public var topicRetention: [String: StreamRetention] = [:]
    /// About how many dead letters a topic keeps (`MAXLEN ~`); the oldest go first.
    public var deadLetterMaxLength: Int = 100_000
    /// How many events a message's history keeps (the newest; ``StreamQueue/messageHistory(topic:messageID:)``).
    /// Events are recorded when a delivery fails, is taken over, dead-lettered, replayed or deleted, and when a
    /// redelivery is handled, inside the scripts that do those things; a first delivery that succeeds records
    /// nothing. 0 records no history.
    public var historyLength: Int = 50
    /// How long a message's history is kept after its last event.
    public var historyRetention: Duration = .seconds(7 * 24 * 3600)

    /// Creates a configuration with defaults.
    public init() {}

    /// The retention of `topic`.
    /// - Parameter topic: The topic.
    /// - Returns: Its retention.
    public func retention(of topic: String) -> StreamRetention {
        self.topicRetention[topic] ?? self.retention
    }
}

extension StreamQueueConfiguration {
    /// The history's length and retention as script arguments.
    var historyArguments: (limit: Int, milliseconds: Int) {
        (max(0, self.historyLength), max(1, Int(self.historyRetention.milliseconds)))
    }

    /// The history arguments for an event about a message: none (limit 0) without a message id (a malformed
    /// entry), which has no history to keep.
    func historyArguments(forMessageID id: String?) -> (limit: Int, milliseconds: Int) {
        guard let id, !id.isEmpty else { return (0, 1) }
        return self.historyArguments
    }
}
