extension RedisCommands {
    /// `HSET key field value [field value ...]`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - fields: Fields and values.
    /// - Returns: How many fields were added (not counting updated ones).
    @discardableResult
    public func hset(_ key: String, _ fields: [(field: String, value: any RESPArgument)]) async throws -> Int {
        guard !fields.isEmpty else { return 0 }
        var command = RedisCommand("HSET")
        command.appendKey(key)
        for pair in fields {
            command.append(pair.field)
            pair.value.append(to: &command)
        }
        return try await self.send(command).decode(as: Int.self)
    }

    /// `HSET key field value`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - field: The field.
    ///   - value: The value.
    /// - Returns: True when the field is new.
    @discardableResult
    public func hset(_ key: String, field: String, to value: some RESPArgument) async throws -> Bool {
        var command = RedisCommand("HSET")
        command.appendKey(key)
        command.append(field)
        command.append(value)
        return try await self.send(command).decode(as: Int.self) == 1
    }

    /// `HGET key field`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - field: The field.
    /// - Returns: The value, or nil.
    public func hget(_ key: String, field: String) async throws -> String? {
        try await self.send(RedisCommand("HGET", key: key, field)).decode(as: String?.self)
    }

    /// `HMGET key field...`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - fields: The fields.
    /// - Returns: One value per field, nil where absent.
    public func hmget(_ key: String, fields: [String]) async throws -> [String?] {
        guard !fields.isEmpty else { return [] }
        var command = RedisCommand("HMGET")
        command.appendKey(key)
        command.append(contentsOf: fields)
        return try await self.send(command).decode(as: [String?].self)
    }

    /// `HGETALL key`.
    /// - Parameter key: The hash.
    /// - Returns: Every field and value (empty when the key does not exist).
    public func hgetall(_ key: String) async throws -> [String: String] {
        try await self.send(RedisCommand("HGETALL", key: key)).decode(as: [String: String].self)
    }

    /// `HDEL key field...`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - fields: The fields.
    /// - Returns: How many were removed.
    @discardableResult
    public func hdel(_ key: String, fields: [String]) async throws -> Int {
        guard !fields.isEmpty else { return 0 }
        var command = RedisCommand("HDEL")
        command.appendKey(key)
        command.append(contentsOf: fields)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `HINCRBY key field increment`.
    /// - Parameters:
    ///   - key: The hash.
    ///   - field: The field.
    ///   - increment: The amount to add.
    /// - Returns: The new value.
    @discardableResult
    public func hincr(_ key: String, field: String, by increment: Int = 1) async throws -> Int {
        try await self.send(RedisCommand("HINCRBY", key: key, field, increment)).decode(as: Int.self)
    }

    /// `HLEN key`.
    /// - Parameter key: The hash.
    /// - Returns: The number of fields.
    public func hlen(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("HLEN", key: key)).decode(as: Int.self)
    }
}
