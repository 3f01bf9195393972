extension RedisCommands {
    /// `LPUSH key value...`.
    /// - Parameters:
    ///   - key: The list.
    ///   - values: The values, pushed in order (so the last ends up first).
    /// - Returns: The list's new length (its current length when `values` is empty).
    @discardableResult
    public func lpush(_ key: String, _ values: [String]) async throws -> Int {
        try await self.push("LPUSH", key, values)
    }

    /// `RPUSH key value...`.
    /// - Parameters:
    ///   - key: The list.
    ///   - values: The values, appended in order.
    /// - Returns: The list's new length (its current length when `values` is empty).
    @discardableResult
    public func rpush(_ key: String, _ values: [String]) async throws -> Int {
        try await self.push("RPUSH", key, values)
    }

    private func push(_ name: String, _ key: String, _ values: [String]) async throws -> Int {
        // `LPUSH key` with no value is a syntax error; pushing nothing leaves the list as it is.
        guard !values.isEmpty else { return try await self.llen(key) }
        var command = RedisCommand(name)
        command.appendKey(key)
        command.append(contentsOf: values)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `LPOP key`.
    /// - Parameter key: The list.
    /// - Returns: The first element, or nil when the list is empty.
    public func lpop(_ key: String) async throws -> String? {
        try await self.send(RedisCommand("LPOP", key: key)).decode(as: String?.self)
    }

    /// `RPOP key`.
    /// - Parameter key: The list.
    /// - Returns: The last element, or nil when the list is empty.
    public func rpop(_ key: String) async throws -> String? {
        try await self.send(RedisCommand("RPOP", key: key)).decode(as: String?.self)
    }

    /// `LRANGE key start stop`.
    /// - Parameters:
    ///   - key: The list.
    ///   - start: First index (negative counts from the end).
    ///   - stop: Last index, inclusive.
    /// - Returns: The elements.
    public func lrange(_ key: String, _ start: Int = 0, _ stop: Int = -1) async throws -> [String] {
        try await self.send(RedisCommand("LRANGE", key: key, start, stop)).decode(as: [String].self)
    }

    /// `LLEN key`.
    /// - Parameter key: The list.
    /// - Returns: The length.
    public func llen(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("LLEN", key: key)).decode(as: Int.self)
    }

    /// `BLPOP key... timeout`: waits until one of the lists has an element.
    ///
    /// Runs on a connection of its own, so it never stalls other callers of the client.
    /// - Parameters:
    ///   - keys: The lists, checked in order.
    ///   - timeout: How long the server waits; at least one millisecond.
    /// - Returns: The list and the element, or nil when the timeout passed.
    public func blpop(_ keys: [String], timeout: Duration) async throws -> (key: String, value: String)? {
        var command = RedisCommand("BLPOP")
        command.appendKeys(contentsOf: keys)
        command.append(Double.respText(Double(max(1, timeout.roundedUpMilliseconds)) / 1000))
        let reply = try await self.sendBlocking(command, blockingFor: timeout)
        guard let pair = try reply.decode(as: [String]?.self) else { return nil }
        guard pair.count == 2 else { throw RedisError.unexpected(reply, expected: "[key, value]") }
        return (pair[0], pair[1])
    }
}
