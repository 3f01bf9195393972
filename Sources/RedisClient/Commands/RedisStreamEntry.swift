public import NIOCore

/// One entry of a Redis stream.
public struct RedisStreamEntry: Sendable, Hashable {
    /// The entry id, `<milliseconds>-<sequence>`.
    public var id: String
    /// The fields and values; when a field repeats, the last value wins.
    public var fields: [String: ByteBuffer]
    /// True for an entry still pending in a consumer group whose data was deleted from the stream (`XDEL`,
    /// trimming): only the id is known.
    public var isDeleted: Bool

    /// Creates an entry.
    /// - Parameters:
    ///   - id: The entry id.
    ///   - fields: Fields and values.
    ///   - isDeleted: Whether the data is gone.
    public init(id: String, fields: [String: ByteBuffer], isDeleted: Bool = false) {
        self.id = id
        self.fields = fields
        self.isDeleted = isDeleted
    }

    /// A field's value as a UTF-8 string.
    /// - Parameter field: The field name.
    /// - Returns: The value, or nil when the field is absent.
    public func string(_ field: String) -> String? {
        self.fields[field].map { String(buffer: $0) }
    }

    /// Reads `[id, [field, value, ...]]` (`[id, null]` for a deleted entry).
    static func decode(_ value: RESPValue) throws -> RedisStreamEntry {
        guard case .array(let parts) = value, parts.count == 2 else {
            throw RedisError.unexpected(value, expected: "[id, fields]")
        }
        let id = try parts[0].decode(as: String.self)
        switch parts[1] {
        case .null:
            return RedisStreamEntry(id: id, fields: [:], isDeleted: true)
        case .array(let flat):
            guard flat.count % 2 == 0 else { throw RedisError.unexpected(parts[1], expected: "field/value pairs") }
            var fields: [String: ByteBuffer] = [:]
            var index = 0
            while index < flat.count {
                fields[try flat[index].decode(as: String.self)] = try flat[index + 1].decode(as: ByteBuffer.self)
                index += 2
            }
            return RedisStreamEntry(id: id, fields: fields)
        case .map(let entries):
            var fields: [String: ByteBuffer] = [:]
            for entry in entries {
                fields[try entry.key.decode(as: String.self)] = try entry.value.decode(as: ByteBuffer.self)
            }
            return RedisStreamEntry(id: id, fields: fields)
        default:
            throw RedisError.unexpected(parts[1], expected: "field/value pairs")
        }
    }

    static func decodeList(_ value: RESPValue) throws -> [RedisStreamEntry] {
        switch value {
        case .array(let entries): return try entries.map(Self.decode)
        case .null: return []
        default: throw RedisError.unexpected(value, expected: "an array of stream entries")
        }
    }
}

/// A message pending in a consumer group (`XPENDING` extended form).
public struct RedisPendingEntry: Sendable, Hashable {
    /// The entry id.
    public var id: String
    /// The consumer it was delivered to.
    public var consumer: String
    /// Time since it was last delivered.
    public var idle: Duration
    /// How many times it was delivered.
    public var deliveries: Int
}

/// A consumer group of a stream (`XINFO GROUPS`).
public struct RedisStreamGroupInfo: Sendable, Hashable {
    /// The group name.
    public var name: String
    /// Consumers in the group.
    public var consumers: Int
    /// Entries delivered but not acknowledged.
    public var pending: Int
    /// The last id delivered to the group.
    public var lastDeliveredID: String
    /// Entries not yet delivered to the group (Redis 7+); nil when Redis cannot tell.
    public var lag: Int?
}
