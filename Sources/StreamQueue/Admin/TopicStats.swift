/// A topic's numbers (``StreamQueue/stats(topic:)``).
public struct TopicStats: Sendable, Hashable, Codable {
    /// The topic.
    public var topic: String
    /// Entries in the topic's stream (what retention keeps, read or not).
    public var length: Int
    /// The consumer groups reading the topic.
    public var groups: [GroupStats]
    /// Retries waiting for their due time, over all groups.
    public var delayed: Int
    /// Dead letters of the topic, over all groups.
    public var deadLetters: Int

    /// Creates stats (for tests and fakes of the admin API).
    /// - Parameters:
    ///   - topic: The topic.
    ///   - length: Entries in the stream.
    ///   - groups: The groups.
    ///   - delayed: Retries waiting.
    ///   - deadLetters: Dead letters.
    public init(topic: String, length: Int, groups: [GroupStats], delayed: Int, deadLetters: Int) {
        self.topic = topic
        self.length = length
        self.groups = groups
        self.delayed = delayed
        self.deadLetters = deadLetters
    }
}

/// One consumer group's numbers.
public struct GroupStats: Sendable, Hashable, Codable {
    /// The group (one per handler).
    public var name: String
    /// Consumers registered in the group (live ones, and dead ones until removed).
    public var consumers: Int
    /// Messages delivered and not yet acknowledged: being handled, or held by a consumer that died (to be
    /// reclaimed after the visibility timeout). Topic stream and retry stream together.
    public var pending: Int
    /// Messages of the topic's stream the group has not read yet; nil when Redis cannot tell.
    public var lag: Int?
    /// The last entry id of the topic's stream delivered to the group.
    public var lastDeliveredID: String
    /// Retries waiting for their due time.
    public var delayed: Int
    /// Redeliveries (due retries, replayed dead letters) not yet read by the group.
    public var redeliveries: Int

    /// Creates group stats (for tests and fakes of the admin API).
    /// - Parameters:
    ///   - name: The group.
    ///   - consumers: Registered consumers.
    ///   - pending: Delivered, not acknowledged.
    ///   - lag: Not yet read; nil when unknown.
    ///   - lastDeliveredID: The last entry id delivered.
    ///   - delayed: Retries waiting.
    ///   - redeliveries: Redeliveries not yet read.
    public init(
        name: String,
        consumers: Int,
        pending: Int,
        lag: Int?,
        lastDeliveredID: String,
        delayed: Int,
        redeliveries: Int
    ) {
        self.name = name
        self.consumers = consumers
        self.pending = pending
        self.lag = lag
        self.lastDeliveredID = lastDeliveredID
        self.delayed = delayed
        self.redeliveries = redeliveries
    }
}
