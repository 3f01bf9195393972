/// What the queue knows of one message: where its published entry stands in each consumer group, and the events
/// of its failures, takeovers, dead letters and replays (``StreamQueue/messageHistory(topic:messageID:)``).
public struct MessageHistory: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The message's id (the publisher's, not a stream entry id).
    public var messageID: String
    /// The topic stream entry it was published as; nil when neither the publish marker nor an event names it.
    public var entryID: String?
    /// The message as published, while its entry is still in the topic's stream.
    public var message: QueueMessage?
    /// Where the published entry stands in each group of the topic (empty when ``entryID`` is nil).
    public var groups: [GroupDelivery]
    /// The recorded events, oldest first (at most ``StreamQueueConfiguration/historyLength``).
    public var events: [MessageEvent]
}

/// Where a topic entry stands in one consumer group.
public struct GroupDelivery: Sendable, Hashable {
    /// The entry's state in the group.
    public enum State: Sendable, Hashable {
        /// The group has not read it yet.
        case waiting
        /// Delivered and not acknowledged yet: a handler runs it, or its consumer crashed and it waits for a
        /// takeover.
        case pending(consumer: String, deliveries: Int, idle: Duration)
        /// Read and acknowledged: handled, or handed to the group's retries or dead letters (see the events). Also
        /// the state of an entry the group skipped: one created after it with ``QueueGroupStart/newMessages``
        /// (Redis keeps no record that tells the two apart).
        case acknowledged
    }

    /// The consumer group.
    public var group: String
    /// The state.
    public var state: State

    /// Creates a group's state (for comparisons in tests).
    /// - Parameters:
    ///   - group: The consumer group.
    ///   - state: The state.
    public init(group: String, state: State) {
        self.group = group
        self.state = state
    }
}
