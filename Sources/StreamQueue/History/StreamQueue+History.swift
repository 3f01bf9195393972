import RedisClient

extension StreamQueue {
    /// What the queue knows of one message: its published entry's state in each group, and its recorded events
    /// (failures, takeovers, dead letters, replays, deletions, handled redeliveries), oldest first.
    ///
    /// The published entry is found through the publish marker (messages published with a deduplication window,
    /// for as long as the window lasts) or through a recorded event. A message published without a window that
    /// never failed cannot be found by its id: the stream is not indexed by message id.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - messageID: The message's id, as published.
    /// - Returns: The history, or nil when the queue knows nothing of the message.
    public func messageHistory(topic: String, messageID: String) async throws -> MessageHistory? {
        try TopicKeys.validate(topic)
        guard !messageID.isEmpty, messageID.utf8.count <= 256 else { return nil }
        let keys = self.keys(topic)
        let replies = try await self.client.pipeline([
            RedisCommand("GET", key: keys.published(messageID)),
            RedisCommand("LRANGE", key: keys.history(messageID), 0, -1),
        ])
        let marker = try replies[0].get().decode(as: String?.self)
        let events = try replies[1].get().decode(as: [String].self).compactMap(MessageEvent.init(json:))
        let entryID = marker ?? events.first { !$0.inRetryStream && $0.entryID != nil }?.entryID
        guard let entryID, Self.isEntryID(entryID) else {
            if events.isEmpty { return nil }
            return MessageHistory(
                topic: topic,
                messageID: messageID,
                entryID: nil,
                message: nil,
                groups: [],
                events: events
            )
        }
        let (message, groups) = try await self.published(entryID: entryID, messageID: messageID, keys: keys)
        return MessageHistory(
            topic: topic,
            messageID: messageID,
            entryID: entryID,
            message: message,
            groups: groups,
            events: events
        )
    }

    /// The topic entry (when still there and it is the message's) and its state in each group.
    private func published(
        entryID: String,
        messageID: String,
        keys: TopicKeys
    ) async throws -> (QueueMessage?, [GroupDelivery]) {
        let entries = try await self.client.xrange(keys.stream, from: entryID, to: entryID, count: 1)
        let message = entries.first.flatMap { QueueMessage(entry: $0, topic: keys.topic) }
            .flatMap { $0.id == messageID ? $0 : nil }
        let groups: [GroupInfo]
        switch try await self.client.pipeline([RedisCommand("XINFO", "GROUPS", key: keys.stream)])[0] {
        case .success(let value): groups = try GroupInfo.list(value)
        case .failure(let error) where error.message.contains("no such key"): return (message, [])
        case .failure(let error): throw error
        }
        guard !groups.isEmpty else { return (message, []) }
        let pending = try await self.client.pipeline(
            groups.map { RedisCommand("XPENDING", key: keys.stream, $0.name, entryID, entryID, 1) }
        )
        var result: [GroupDelivery] = []
        for (group, reply) in zip(groups, pending) {
            // A group destroyed since XINFO GROUPS answers NOGROUP: it is simply not listed.
            guard case .success(let value) = reply else { continue }
            let state: GroupDelivery.State
            if case .array(let rows) = value, let row = rows.first,
                case .array(let fields) = row, fields.count == 4
            {
                state = .pending(
                    consumer: try fields[1].decode(as: String.self),
                    deliveries: try fields[3].decode(as: Int.self),
                    idle: .milliseconds(try fields[2].decode(as: Int.self))
                )
            } else if !(StreamEntryID(group.lastDeliveredID) < StreamEntryID(entryID)) {
                state = .acknowledged
            } else {
                state = .waiting
            }
            result.append(GroupDelivery(group: group.name, state: state))
        }
        return (message, result.sorted { $0.group < $1.group })
    }
}
