extension RedisCommands {
    /// `XADD key [MAXLEN ~ n] id field value ...`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - fields: Fields and values, in order.
    ///   - id: The entry id; `*` lets Redis choose.
    ///   - maxLength: Trim the stream to about this many entries (`MAXLEN ~`); nil keeps everything.
    /// - Returns: The id of the new entry.
    @discardableResult
    public func xadd(
        _ key: String,
        fields: [(field: String, value: any RESPArgument)],
        id: String = "*",
        maxLength: Int? = nil
    ) async throws -> String {
        precondition(!fields.isEmpty, "XADD needs at least one field")
        var command = RedisCommand("XADD")
        command.appendKey(key)
        if let maxLength {
            command.append("MAXLEN")
            command.append("~")
            command.append(maxLength)
        }
        command.append(id)
        for pair in fields {
            command.append(pair.field)
            pair.value.append(to: &command)
        }
        return try await self.send(command).decode(as: String.self)
    }

    /// `XLEN key`.
    /// - Parameter key: The stream.
    /// - Returns: The number of entries.
    public func xlen(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("XLEN", key: key)).decode(as: Int.self)
    }

    /// `XRANGE key start end [COUNT n]`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - start: First id (`-` for the oldest; `(id` for exclusive).
    ///   - end: Last id (`+` for the newest).
    ///   - count: The most entries to return.
    /// - Returns: The entries, oldest first.
    public func xrange(
        _ key: String,
        from start: String = "-",
        to end: String = "+",
        count: Int? = nil
    ) async throws -> [RedisStreamEntry] {
        var command = RedisCommand("XRANGE")
        command.appendKey(key)
        command.append(start)
        command.append(end)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        return try RedisStreamEntry.decodeList(try await self.send(command))
    }

    /// `XDEL key id...`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - ids: Entry ids.
    /// - Returns: How many were deleted.
    @discardableResult
    public func xdel(_ key: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        var command = RedisCommand("XDEL")
        command.appendKey(key)
        command.append(contentsOf: ids)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `XGROUP CREATE key group id MKSTREAM`; an existing group is left as it is.
    /// - Parameters:
    ///   - key: The stream (created empty if missing).
    ///   - group: The group name.
    ///   - startID: Where the group starts reading: `$` for new entries only, `0` for everything.
    /// - Returns: True when the group was created, false when it already existed.
    @discardableResult
    public func xgroupCreate(_ key: String, group: String, startID: String = "$") async throws -> Bool {
        do {
            _ = try await self.send(RedisCommand("XGROUP", "CREATE", key: key, group, startID, "MKSTREAM"))
            return true
        } catch let error as RedisError where error.serverErrorPrefix == "BUSYGROUP" {
            return false
        }
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...`.
    ///
    /// With `block`, the command runs on a dedicated connection (see ``RedisCommands/sendBlocking(_:blockingFor:)``).
    /// - Parameters:
    ///   - group: The consumer group.
    ///   - consumer: This consumer's name.
    ///   - streams: Streams and the id to read after: `>` for new messages, `0` for this consumer's pending ones.
    ///   - count: The most entries per stream.
    ///   - block: How long to wait for new entries; nil returns at once.
    ///   - noAck: Do not add the entries to the pending list.
    /// - Returns: Entries per stream; empty when nothing arrived.
    public func xreadgroup(
        group: String,
        consumer: String,
        streams: [(key: String, id: String)],
        count: Int? = nil,
        block: Duration? = nil,
        noAck: Bool = false
    ) async throws -> [String: [RedisStreamEntry]] {
        var command = RedisCommand("XREADGROUP")
        command.append("GROUP")
        command.append(group)
        command.append(consumer)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        if let block {
            command.append("BLOCK")
            command.append(max(1, block.roundedUpMilliseconds))
        }
        if noAck { command.append("NOACK") }
        command.append("STREAMS")
        for stream in streams { command.appendKey(stream.key) }
        for stream in streams { command.append(stream.id) }
        let reply =
            if let block {
                try await self.sendBlocking(command, blockingFor: block)
            } else {
                try await self.send(command)
            }
        return try Self.streamsReply(reply)
    }

    /// `XACK key group id...`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - group: The group.
    ///   - ids: Entry ids.
    /// - Returns: How many were acknowledged (pending before this call).
    @discardableResult
    public func xack(_ key: String, group: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        var command = RedisCommand("XACK")
        command.appendKey(key)
        command.append(group)
        command.append(contentsOf: ids)
        return try await self.send(command).decode(as: Int.self)
    }

    /// `XAUTOCLAIM key group consumer min-idle start COUNT n`: takes over entries pending longer than `minIdle`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - group: The group.
    ///   - consumer: The consumer that takes them.
    ///   - minIdle: Only entries idle at least this long.
    ///   - start: Where to continue scanning the pending list (`0-0` to start).
    ///   - count: The most entries to claim.
    /// - Returns: The id to continue from (`0-0` when the scan is complete), the claimed entries, and ids that
    ///   were pending but no longer exist in the stream (Redis removed them from the pending list).
    public func xautoclaim(
        _ key: String,
        group: String,
        consumer: String,
        minIdle: Duration,
        start: String = "0-0",
        count: Int = 100
    ) async throws -> (next: String, entries: [RedisStreamEntry], deletedIDs: [String]) {
        let reply = try await self.send(
            RedisCommand("XAUTOCLAIM", key: key, group, consumer, minIdle.roundedUpMilliseconds, start, "COUNT", count)
        )
        guard case .array(let parts) = reply, parts.count >= 2 else {
            throw RedisError.unexpected(reply, expected: "[next, entries, deleted]")
        }
        let deleted = parts.count > 2 ? try parts[2].decode(as: [String].self) : []
        return (try parts[0].decode(as: String.self), try RedisStreamEntry.decodeList(parts[1]), deleted)
    }

    /// `XPENDING key group [IDLE ms] start end count [consumer]` (extended form).
    /// - Parameters:
    ///   - key: The stream.
    ///   - group: The group.
    ///   - start: First id (`-`).
    ///   - end: Last id (`+`).
    ///   - count: The most entries.
    ///   - consumer: Only this consumer's entries.
    ///   - minIdle: Only entries idle at least this long.
    /// - Returns: The pending entries.
    public func xpending(
        _ key: String,
        group: String,
        start: String = "-",
        end: String = "+",
        count: Int = 100,
        consumer: String? = nil,
        minIdle: Duration? = nil
    ) async throws -> [RedisPendingEntry] {
        var command = RedisCommand("XPENDING")
        command.appendKey(key)
        command.append(group)
        if let minIdle {
            command.append("IDLE")
            command.append(minIdle.roundedUpMilliseconds)
        }
        command.append(start)
        command.append(end)
        command.append(count)
        if let consumer { command.append(consumer) }
        let reply = try await self.send(command)
        guard case .array(let rows) = reply else { throw RedisError.unexpected(reply, expected: "an array") }
        return try rows.map { row in
            guard case .array(let parts) = row, parts.count == 4 else {
                throw RedisError.unexpected(row, expected: "[id, consumer, idle, deliveries]")
            }
            return RedisPendingEntry(
                id: try parts[0].decode(as: String.self),
                consumer: try parts[1].decode(as: String.self),
                idle: .milliseconds(try parts[2].decode(as: Int.self)),
                deliveries: try parts[3].decode(as: Int.self)
            )
        }
    }

    /// `XPENDING key group` (summary form): how many entries are pending.
    /// - Parameters:
    ///   - key: The stream.
    ///   - group: The group.
    /// - Returns: The number of pending entries.
    public func xpendingCount(_ key: String, group: String) async throws -> Int {
        let reply = try await self.send(RedisCommand("XPENDING", key: key, group))
        guard case .array(let parts) = reply, let first = parts.first else {
            throw RedisError.unexpected(reply, expected: "a pending summary")
        }
        return try first.decode(as: Int.self)
    }

    /// `XINFO GROUPS key`.
    /// - Parameter key: The stream.
    /// - Returns: Its consumer groups.
    public func xinfoGroups(_ key: String) async throws -> [RedisStreamGroupInfo] {
        let reply = try await self.send(RedisCommand("XINFO", "GROUPS", key: key))
        guard case .array(let groups) = reply else { throw RedisError.unexpected(reply, expected: "an array") }
        return try groups.map { group in
            let fields = try group.decode(as: [String: RESPValue].self)
            return RedisStreamGroupInfo(
                name: try fields["name"]?.decode(as: String.self) ?? "",
                consumers: try fields["consumers"]?.decode(as: Int.self) ?? 0,
                pending: try fields["pending"]?.decode(as: Int.self) ?? 0,
                lastDeliveredID: try fields["last-delivered-id"]?.decode(as: String.self) ?? "",
                lag: try fields["lag"]?.decode(as: Int?.self)
            )
        }
    }

    /// `XTRIM key MAXLEN ~ n`.
    /// - Parameters:
    ///   - key: The stream.
    ///   - maxLength: About how many entries to keep.
    /// - Returns: How many entries were removed.
    @discardableResult
    public func xtrim(_ key: String, maxLength: Int) async throws -> Int {
        try await self.send(RedisCommand("XTRIM", key: key, "MAXLEN", "~", maxLength)).decode(as: Int.self)
    }

    /// Reads an `XREAD`/`XREADGROUP` reply: a RESP3 map (or RESP2 array) of stream name to entries, or null.
    static func streamsReply(_ reply: RESPValue) throws -> [String: [RedisStreamEntry]] {
        var result: [String: [RedisStreamEntry]] = [:]
        switch reply {
        case .null:
            return [:]
        case .map(let entries):
            for entry in entries {
                result[try entry.key.decode(as: String.self)] = try RedisStreamEntry.decodeList(entry.value)
            }
        case .array(let streams):
            for stream in streams {
                guard case .array(let parts) = stream, parts.count == 2 else {
                    throw RedisError.unexpected(stream, expected: "[stream, entries]")
                }
                result[try parts[0].decode(as: String.self)] = try RedisStreamEntry.decodeList(parts[1])
            }
        default:
            throw RedisError.unexpected(reply, expected: "streams")
        }
        return result
    }
}
