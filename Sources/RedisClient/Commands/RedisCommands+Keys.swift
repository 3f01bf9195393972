extension RedisCommands {
    /// `DEL key...`.
    /// - Parameter keys: The keys.
    /// - Returns: How many existed.
    @discardableResult
    public func delete(_ keys: String...) async throws -> Int {
        try await self.delete(keys)
    }

    /// `DEL key...`.
    /// - Parameter keys: The keys.
    /// - Returns: How many existed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        var command = RedisCommand("DEL")
        command.appendKeys(contentsOf: keys)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `UNLINK key...`: like `DEL`, but frees memory in the background.
    /// - Parameter keys: The keys.
    /// - Returns: How many existed.
    @discardableResult
    public func unlink(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        var command = RedisCommand("UNLINK")
        command.appendKeys(contentsOf: keys)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `EXISTS key...`.
    /// - Parameter keys: The keys.
    /// - Returns: How many of them exist.
    public func exists(_ keys: String...) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        var command = RedisCommand("EXISTS")
        command.appendKeys(contentsOf: keys)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `PEXPIRE key ms`.
    /// - Parameters:
    ///   - key: The key.
    ///   - after: The time to live.
    /// - Returns: True when the key exists and the timeout was set.
    @discardableResult
    public func expire(_ key: String, after: Duration) async throws -> Bool {
        let milliseconds = max(1, after.roundedUpMilliseconds)
        return try await self.send(RedisCommand("PEXPIRE", key: key, milliseconds)).decode(as: Bool.self)
    }

    /// `PERSIST key`.
    /// - Parameter key: The key.
    /// - Returns: True when a timeout was removed.
    @discardableResult
    public func persist(_ key: String) async throws -> Bool {
        try await self.send(RedisCommand("PERSIST", key: key)).decode(as: Bool.self)
    }

    /// `PTTL key`.
    /// - Parameter key: The key.
    /// - Returns: Whether the key exists and when it expires.
    public func ttl(_ key: String) async throws -> RedisTTL {
        let milliseconds = try await self.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
        switch milliseconds {
        case -2: return .missing
        case -1: return .noExpiry
        default: return .expires(in: .milliseconds(milliseconds))
        }
    }

    /// `TYPE key`.
    /// - Parameter key: The key.
    /// - Returns: `string`, `list`, `set`, `zset`, `hash`, `stream`, or `none`.
    public func type(of key: String) async throws -> String {
        try await self.send(RedisCommand("TYPE", key: key)).decode(as: String.self)
    }

    /// One `SCAN` step.
    /// - Parameters:
    ///   - cursor: `"0"` to start, then the cursor the previous step returned.
    ///   - pattern: Only keys matching this glob pattern.
    ///   - count: A hint of how many keys to look at.
    ///   - type: Only keys of this type.
    /// - Returns: The next cursor (`"0"` when done) and the keys found in this step.
    public func scan(
        cursor: String = "0",
        matching pattern: String? = nil,
        count: Int? = nil,
        type: String? = nil
    ) async throws -> (cursor: String, keys: [String]) {
        var command = RedisCommand("SCAN")
        command.append(cursor)
        if let pattern {
            command.append("MATCH")
            command.append(pattern)
        }
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        if let type {
            command.append("TYPE")
            command.append(type)
        }
        let reply = try await self.send(command)
        guard case .array(let parts) = reply, parts.count == 2 else {
            throw RedisError.unexpected(reply, expected: "[cursor, keys]")
        }
        return (try parts[0].decode(as: String.self), try parts[1].decode(as: [String].self))
    }

    /// Every key matching `pattern`, fetched with `SCAN` in steps (never `KEYS`), passed to `body` batch by batch.
    /// A key may be reported more than once if the keyspace changes during the scan, as with `SCAN` itself.
    /// - Parameters:
    ///   - pattern: The glob pattern.
    ///   - count: The `COUNT` hint per step.
    ///   - body: Called with each non-empty batch.
    public func scanKeys(
        matching pattern: String,
        count: Int = 500,
        _ body: ([String]) async throws -> Void
    ) async throws {
        var cursor = "0"
        repeat {
            let step = try await self.scan(cursor: cursor, matching: pattern, count: count)
            cursor = step.cursor
            if !step.keys.isEmpty { try await body(step.keys) }
        } while cursor != "0"
    }
}
