extension RedisCommands {
    /// `GET key` as a UTF-8 string.
    /// - Parameter key: The key.
    /// - Returns: The value, or nil when the key does not exist.
    public func get(_ key: String) async throws -> String? {
        try await self.send(RedisCommand("GET", key: key)).decode(as: String?.self)
    }

    /// `GET key` converted to `type` (for example `ByteBuffer` or `Int`).
    /// - Parameters:
    ///   - key: The key.
    ///   - type: The type to convert to.
    /// - Returns: The value, or nil when the key does not exist.
    public func get<Value: RESPValueDecodable>(_ key: String, as type: Value.Type) async throws -> Value? {
        try await self.send(RedisCommand("GET", key: key)).decode(as: Value?.self)
    }

    /// `SET key value [NX|XX] [PX ms | KEEPTTL]`.
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    ///   - expiration: Time to live; nil for none (or to keep the current one with `keepTTL`).
    ///   - condition: Write always, only if absent (`NX`) or only if present (`XX`).
    ///   - keepTTL: Keep the key's current time to live (`KEEPTTL`); ignored when `expiration` is set.
    /// - Returns: True when the value was written (false when the condition was not met).
    @discardableResult
    public func set(
        _ key: String,
        to value: some RESPArgument,
        expiration: Duration? = nil,
        condition: RedisSetCondition = .always,
        keepTTL: Bool = false
    ) async throws -> Bool {
        var command = RedisCommand("SET")
        command.appendKey(key)
        command.append(value)
        switch condition {
        case .always: break
        case .ifNotExists: command.append("NX")
        case .ifExists: command.append("XX")
        }
        if let expiration {
            command.append("PX")
            command.append(max(1, expiration.roundedUpMilliseconds))
        } else if keepTTL {
            command.append("KEEPTTL")
        }
        return try await self.send(command).decode(as: Bool.self)
    }

    /// `MGET key...`.
    /// - Parameter keys: The keys.
    /// - Returns: One value per key, nil where the key does not exist.
    public func mget(_ keys: [String]) async throws -> [String?] {
        guard !keys.isEmpty else { return [] }
        var command = RedisCommand("MGET")
        command.appendKeys(contentsOf: keys)
        return try await self.send(command).decode(as: [String?].self)
    }

    /// `MSET key value ...`.
    /// - Parameter pairs: Keys and values.
    public func mset(_ pairs: [(key: String, value: String)]) async throws {
        guard !pairs.isEmpty else { return }
        var command = RedisCommand("MSET")
        for pair in pairs {
            command.appendKey(pair.key)
            command.append(pair.value)
        }
        _ = try await self.send(command)
    }

    /// `INCRBY key increment`.
    /// - Parameters:
    ///   - key: The key.
    ///   - increment: The amount to add (may be negative).
    /// - Returns: The new value.
    @discardableResult
    public func incr(_ key: String, by increment: Int = 1) async throws -> Int {
        try await self.send(RedisCommand("INCRBY", key: key, increment)).decode(as: Int.self)
    }

    /// `GETDEL key`.
    /// - Parameter key: The key.
    /// - Returns: The value it had, or nil.
    public func getDel(_ key: String) async throws -> String? {
        try await self.send(RedisCommand("GETDEL", key: key)).decode(as: String?.self)
    }
}
