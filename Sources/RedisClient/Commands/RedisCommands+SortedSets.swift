extension RedisCommands {
    /// `ZADD key [NX|XX] score member ...`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - members: Members and their scores.
    ///   - condition: Add always, only new members (`NX`), or only update existing ones (`XX`).
    /// - Returns: How many members were added.
    @discardableResult
    public func zadd(
        _ key: String,
        _ members: [(member: String, score: Double)],
        condition: RedisSetCondition = .always
    ) async throws -> Int {
        guard !members.isEmpty else { return 0 }
        var command = RedisCommand("ZADD")
        command.appendKey(key)
        switch condition {
        case .always: break
        case .ifNotExists: command.append("NX")
        case .ifExists: command.append("XX")
        }
        for entry in members {
            command.append(entry.score)
            command.append(entry.member)
        }
        return try await self.send(command).decode(as: Int.self)
    }

    /// `ZSCORE key member`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - member: The member.
    /// - Returns: Its score, or nil when it is not a member.
    public func zscore(_ key: String, member: String) async throws -> Double? {
        try await self.send(RedisCommand("ZSCORE", key: key, member)).decode(as: Double?.self)
    }

    /// `ZINCRBY key increment member`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - member: The member.
    ///   - increment: The amount to add to its score.
    /// - Returns: The new score.
    @discardableResult
    public func zincr(_ key: String, member: String, by increment: Double = 1) async throws -> Double {
        try await self.send(RedisCommand("ZINCRBY", key: key, increment, member)).decode(as: Double.self)
    }

    /// `ZREM key member...`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - members: The members.
    /// - Returns: How many were removed.
    @discardableResult
    public func zrem(_ key: String, members: [String]) async throws -> Int {
        guard !members.isEmpty else { return 0 }
        var command = RedisCommand("ZREM")
        command.appendKey(key)
        command.append(contentsOf: members)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `ZCARD key`.
    /// - Parameter key: The sorted set.
    /// - Returns: The number of members.
    public func zcard(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("ZCARD", key: key)).decode(as: Int.self)
    }

    /// `ZRANGE key start stop [REV] WITHSCORES`, by rank.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - start: First rank (negative counts from the end).
    ///   - stop: Last rank, inclusive.
    ///   - reverse: Highest scores first.
    /// - Returns: Members with their scores.
    public func zrange(
        _ key: String,
        _ start: Int = 0,
        _ stop: Int = -1,
        reverse: Bool = false
    ) async throws -> [(member: String, score: Double)] {
        var command = RedisCommand("ZRANGE")
        command.appendKey(key)
        command.append(start)
        command.append(stop)
        if reverse { command.append("REV") }
        command.append("WITHSCORES")
        return try Self.scoredMembers(try await self.send(command))
    }

    /// `ZRANGE key min max BYSCORE [LIMIT offset count] WITHSCORES`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - min: Lowest score, inclusive; `"-inf"` or `"(5"` (exclusive) forms are accepted as strings.
    ///   - max: Highest score.
    ///   - limit: Offset and count.
    /// - Returns: Members with their scores, lowest first.
    public func zrangeByScore(
        _ key: String,
        min: String,
        max: String,
        limit: (offset: Int, count: Int)? = nil
    ) async throws -> [(member: String, score: Double)] {
        var command = RedisCommand("ZRANGE")
        command.appendKey(key)
        command.append(min)
        command.append(max)
        command.append("BYSCORE")
        if let limit {
            command.append("LIMIT")
            command.append(limit.offset)
            command.append(limit.count)
        }
        command.append("WITHSCORES")
        return try Self.scoredMembers(try await self.send(command))
    }

    /// `ZREMRANGEBYSCORE key min max`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - min: Lowest score (string forms as in ``zrangeByScore(_:min:max:limit:)``).
    ///   - max: Highest score.
    /// - Returns: How many were removed.
    @discardableResult
    public func zremRangeByScore(_ key: String, min: String, max: String) async throws -> Int {
        try await self.send(RedisCommand("ZREMRANGEBYSCORE", key: key, min, max)).decode(as: Int.self)
    }

    /// `ZPOPMIN key count`.
    /// - Parameters:
    ///   - key: The sorted set.
    ///   - count: How many to pop.
    /// - Returns: The popped members with their scores, lowest first.
    public func zpopmin(_ key: String, count: Int = 1) async throws -> [(member: String, score: Double)] {
        try Self.scoredMembers(try await self.send(RedisCommand("ZPOPMIN", key: key, count)))
    }

    /// Reads `[[member, score], ...]` (RESP3) or `[member, score, ...]` (RESP2).
    static func scoredMembers(_ reply: RESPValue) throws -> [(member: String, score: Double)] {
        guard case .array(let elements) = reply else {
            if case .null = reply { return [] }
            throw RedisError.unexpected(reply, expected: "an array of members and scores")
        }
        var result: [(member: String, score: Double)] = []
        if case .array = elements.first {
            for pair in elements {
                guard case .array(let parts) = pair, parts.count == 2 else {
                    throw RedisError.unexpected(pair, expected: "[member, score]")
                }
                result.append((try parts[0].decode(as: String.self), try parts[1].decode(as: Double.self)))
            }
        } else {
            guard elements.count % 2 == 0 else { throw RedisError.unexpected(reply, expected: "member/score pairs") }
            var index = 0
            while index < elements.count {
                result.append(
                    (try elements[index].decode(as: String.self), try elements[index + 1].decode(as: Double.self))
                )
                index += 2
            }
        }
        return result
    }
}
