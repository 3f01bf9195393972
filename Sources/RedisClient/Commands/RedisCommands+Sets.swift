extension RedisCommands {
    /// `SADD key member...`.
    /// - Parameters:
    ///   - key: The set.
    ///   - members: The members.
    /// - Returns: How many were added.
    @discardableResult
    public func sadd(_ key: String, members: [String]) async throws -> Int {
        guard !members.isEmpty else { return 0 }
        var command = RedisCommand("SADD")
        command.appendKey(key)
        command.append(contentsOf: members)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `SREM key member...`.
    /// - Parameters:
    ///   - key: The set.
    ///   - members: The members.
    /// - Returns: How many were removed.
    @discardableResult
    public func srem(_ key: String, members: [String]) async throws -> Int {
        guard !members.isEmpty else { return 0 }
        var command = RedisCommand("SREM")
        command.appendKey(key)
        command.append(contentsOf: members)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `SMEMBERS key`.
    /// - Parameter key: The set.
    /// - Returns: The members, in no particular order.
    public func smembers(_ key: String) async throws -> [String] {
        try await self.send(RedisCommand("SMEMBERS", key: key)).decode(as: [String].self)
    }

    /// `SISMEMBER key member`.
    /// - Parameters:
    ///   - key: The set.
    ///   - member: The member.
    /// - Returns: True when it is a member.
    public func sismember(_ key: String, member: String) async throws -> Bool {
        try await self.send(RedisCommand("SISMEMBER", key: key, member)).decode(as: Bool.self)
    }

    /// `SCARD key`.
    /// - Parameter key: The set.
    /// - Returns: The number of members.
    public func scard(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("SCARD", key: key)).decode(as: Int.self)
    }
}
