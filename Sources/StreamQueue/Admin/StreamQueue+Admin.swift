import RedisClient

extension StreamQueue {
    /// A topic's numbers: stream length, groups (consumers, pending, lag, last delivered id, delayed retries,
    /// redeliveries), delayed retries and dead letters.
    /// - Parameter topic: The topic.
    /// - Returns: The numbers; a topic nobody published to has length 0 and no groups.
    public func stats(topic: String) async throws -> TopicStats {
        try TopicKeys.validate(topic)
        let keys = self.keys(topic)
        let replies = try await self.client.pipeline([
            RedisCommand("XLEN", key: keys.stream),
            RedisCommand("XINFO", "GROUPS", key: keys.stream),
            RedisCommand("XLEN", key: keys.dead),
        ])
        let length = try replies[0].get().decode(as: Int.self)
        let deadLetters = try replies[2].get().decode(as: Int.self)
        let groups: [GroupInfo]
        switch replies[1] {
        case .success(let value): groups = try GroupInfo.list(value)
        case .failure(let error) where error.message.contains("no such key"): groups = []
        case .failure(let error): throw error
        }
        var result: [GroupStats] = []
        for group in groups {
            let retry = keys.retry(group.name)
            let perGroup = try await self.client.pipeline([
                RedisCommand("XLEN", key: retry),
                RedisCommand("XPENDING", key: retry, group.name),
                RedisCommand("ZCARD", key: keys.delayed(group.name)),
            ])
            let retryLength = try perGroup[0].get().decode(as: Int.self)
            let retryPending: Int
            if case .success(.array(let summary)) = perGroup[1], let first = summary.first {
                retryPending = try first.decode(as: Int.self)
            } else {
                retryPending = 0
            }
            result.append(
                GroupStats(
                    name: group.name,
                    consumers: group.consumers,
                    pending: group.pending + retryPending,
                    lag: group.lag,
                    lastDeliveredID: group.lastDeliveredID,
                    delayed: try perGroup[2].get().decode(as: Int.self),
                    redeliveries: max(0, retryLength - retryPending)
                )
            )
        }
        return TopicStats(
            topic: topic,
            length: length,
            groups: result.sorted { $0.name < $1.name },
            delayed: result.reduce(0) { $0 + $1.delayed },
            deadLetters: deadLetters
        )
    }

    /// Lists dead letters, oldest first.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - after: Continue after this dead letter id (the last one of the previous page); nil for the first page.
    ///   - limit: The most to return (1–1000).
    /// - Returns: The dead letters.
    public func deadLetters(topic: String, after: String? = nil, limit: Int = 100) async throws -> [DeadLetter] {
        try TopicKeys.validate(topic)
        // Nothing comes after the greatest id, and Redis refuses an exclusive start past it.
        if let after, Self.isGreatestID(after) { return [] }
        let start = after.map { "(" + $0 } ?? "-"
        let entries = try await self.client.xrange(
            self.keys(topic).dead,
            from: start,
            count: min(max(limit, 1), 1000)
        )
        return entries.map { DeadLetter(entry: $0, topic: topic) }
    }

    /// Whether `id` is `18446744073709551615-18446744073709551615`, however many leading zeros it has.
    static func isGreatestID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { UInt64($0) == UInt64.max }
    }

    /// One dead letter.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - id: The dead letter id.
    /// - Returns: The dead letter, or nil when there is none with this id.
    public func deadLetter(topic: String, id: String) async throws -> DeadLetter? {
        try TopicKeys.validate(topic)
        guard Self.isEntryID(id) else { return nil }
        let entries = try await self.client.xrange(self.keys(topic).dead, from: id, to: id, count: 1)
        return entries.first.map { DeadLetter(entry: $0, topic: topic) }
    }

    /// Sends a dead letter back to its group, with the attempt count reset, and removes it from the dead letters,
    /// in one atomic step. The group's consumers get it as a redelivery (only that group: other groups of the
    /// topic that handled it are not bothered).
    /// - Parameters:
    ///   - topic: The topic.
    ///   - id: The dead letter id.
    /// - Returns: The new entry id in the group's retry stream, or nil when there is no such dead letter.
    @discardableResult
    public func replayDeadLetter(topic: String, id: String) async throws -> String? {
        guard let deadLetter = try await self.deadLetter(topic: topic, id: id) else { return nil }
        let keys = self.keys(topic)
        let history = self.configuration.historyArguments(forMessageID: deadLetter.message?.id)
        let reply = try await self.client.eval(
            QueueScripts.replay,
            keys: [keys.dead, keys.retry(deadLetter.group), keys.history(deadLetter.message?.id ?? "")],
            arguments: [id, deadLetter.group, history.limit, history.milliseconds]
        )
        if reply.isNull { return nil }
        return try reply.decode(as: String.self)
    }

    /// Deletes a dead letter for good.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - id: The dead letter id.
    /// - Returns: True when it existed.
    @discardableResult
    public func deleteDeadLetter(topic: String, id: String) async throws -> Bool {
        guard let deadLetter = try await self.deadLetter(topic: topic, id: id) else { return false }
        let keys = self.keys(topic)
        let history = self.configuration.historyArguments(forMessageID: deadLetter.message?.id)
        let reply = try await self.client.eval(
            QueueScripts.deleteDeadLetter,
            keys: [keys.dead, keys.history(deadLetter.message?.id ?? "")],
            arguments: [id, deadLetter.group, history.limit, history.milliseconds]
        )
        return try reply.decode(as: Int.self) > 0
    }

    /// Creates a consumer group ahead of its consumers (they create it themselves otherwise), for example so a
    /// new handler does not miss messages published before its first deployment starts.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - group: The group.
    ///   - start: Where it starts reading.
    /// - Returns: True when created, false when it existed.
    @discardableResult
    public func createGroup(topic: String, group: String, startAt start: QueueGroupStart = .beginning) async throws
        -> Bool
    {
        try TopicKeys.validate(topic)
        try TopicKeys.validate(group)
        let keys = self.keys(topic)
        let created = try await self.client.xgroupCreate(
            keys.stream,
            group: group,
            startID: start == .beginning ? "0" : "$"
        )
        try await self.client.xgroupCreate(keys.retry(group), group: group, startID: "0")
        return created
    }

    static func isEntryID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }
    }
}

/// One group of `XINFO GROUPS`.
struct GroupInfo: Sendable {
    var name: String
    var consumers: Int
    var pending: Int
    var lastDeliveredID: String
    var lag: Int?

    static func list(_ reply: RESPValue) throws -> [GroupInfo] {
        guard case .array(let groups) = reply else { throw StreamQueueError.malformedReply("XINFO GROUPS") }
        return try groups.map { group in
            let fields = try group.decode(as: [String: RESPValue].self)
            return GroupInfo(
                name: try fields["name"]?.decode(as: String.self) ?? "",
                consumers: try fields["consumers"]?.decode(as: Int.self) ?? 0,
                pending: try fields["pending"]?.decode(as: Int.self) ?? 0,
                lastDeliveredID: try fields["last-delivered-id"]?.decode(as: String.self) ?? "",
                lag: try fields["lag"]?.decode(as: Int?.self)
            )
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self >= "0" && self <= "9" }
}
