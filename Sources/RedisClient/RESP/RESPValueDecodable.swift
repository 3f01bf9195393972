public import NIOCore

/// A type that can be made from a reply.
public protocol RESPValueDecodable {
    /// Converts a reply.
    /// - Parameter value: The reply.
    /// - Throws: ``RedisError`` with `.unexpectedReply` (or `.server` for an error reply).
    init(fromRESP value: RESPValue) throws
}

extension RESPValue {
    /// Converts the reply to `type`, throwing a server error for an error reply.
    /// - Parameter type: The type to convert to.
    /// - Returns: The converted value.
    public func decode<Value: RESPValueDecodable>(as type: Value.Type = Value.self) throws -> Value {
        if let error = RedisError.fromReply(self) { throw error }
        return try Value(fromRESP: self)
    }
}

extension RESPValue: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws { self = value }
}

extension ByteBuffer: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        guard let bytes = value.bytesValue else { throw RedisError.unexpected(value, expected: "a string") }
        self = bytes
    }
}

extension String: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        switch value {
        case .simpleString(let bytes), .blobString(let bytes), .verbatimString(_, let bytes):
            self = String(buffer: bytes)
        case .number(let number): self = String(number)
        case .double(let double): self = String(double)
        case .bigNumber(let digits): self = digits
        default: throw RedisError.unexpected(value, expected: "a string")
        }
    }
}

extension Int: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        switch value {
        case .number(let number):
            self = Int(number)
        case .simpleString(let bytes), .blobString(let bytes):
            guard let number = RESPDecoder.parseInteger(bytes, at: bytes.readerIndex, length: bytes.readableBytes)
            else { throw RedisError.unexpected(value, expected: "an integer") }
            self = Int(number)
        case .boolean(let flag): self = flag ? 1 : 0
        default: throw RedisError.unexpected(value, expected: "an integer")
        }
    }
}

extension Int64: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws { self = Int64(try Int(fromRESP: value)) }
}

extension Double: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        switch value {
        case .double(let double): self = double
        case .number(let number): self = Double(number)
        case .simpleString(let bytes), .blobString(let bytes):
            let text = String(buffer: bytes)
            switch text {
            case "inf", "+inf": self = .infinity
            case "-inf": self = -.infinity
            default:
                guard let double = Double(text) else { throw RedisError.unexpected(value, expected: "a double") }
                self = double
            }
        default: throw RedisError.unexpected(value, expected: "a double")
        }
    }
}

extension Bool: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        switch value {
        case .boolean(let flag): self = flag
        case .number(let number): self = number != 0
        case .simpleString(let bytes) where String(buffer: bytes) == "OK": self = true
        case .null: self = false
        default: throw RedisError.unexpected(value, expected: "a boolean")
        }
    }
}

extension Optional: RESPValueDecodable where Wrapped: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        if case .null = value {
            self = nil
        } else {
            self = try Wrapped(fromRESP: value)
        }
    }
}

extension Array: RESPValueDecodable where Element: RESPValueDecodable {
    public init(fromRESP value: RESPValue) throws {
        switch value {
        case .array(let elements), .set(let elements), .push(let elements):
            self = try elements.map { try $0.decode(as: Element.self) }
        case .null:
            self = []
        default:
            throw RedisError.unexpected(value, expected: "an array")
        }
    }
}

extension Dictionary: RESPValueDecodable where Key: RESPValueDecodable, Value: RESPValueDecodable {
    /// Accepts a RESP3 map or a flat RESP2-style array of alternating keys and values.
    public init(fromRESP value: RESPValue) throws {
        self = [:]
        switch value {
        case .map(let entries):
            for entry in entries {
                self[try entry.key.decode(as: Key.self)] = try entry.value.decode(as: Value.self)
            }
        case .array(let elements):
            guard elements.count % 2 == 0 else { throw RedisError.unexpected(value, expected: "key/value pairs") }
            var index = 0
            while index < elements.count {
                self[try elements[index].decode(as: Key.self)] = try elements[index + 1].decode(as: Value.self)
                index += 2
            }
        case .null:
            break
        default:
            throw RedisError.unexpected(value, expected: "a map")
        }
    }
}
