public import NIOCore

/// One value of the RESP3 protocol, as the server sent it.
///
/// Strings are kept as `ByteBuffer` slices of the bytes read from the socket, so large replies are not copied.
/// RESP2 null bulk strings and null arrays (`$-1`, `*-1`) decode to ``null``. Attributes (`|`) are parsed and
/// dropped by the decoder: they never appear as a value and never count as an element of an aggregate.
public enum RESPValue: Sendable, Hashable {
    /// `+OK` — a simple (single-line) string.
    case simpleString(ByteBuffer)
    /// `$5\r\nhello` — a binary-safe string.
    case blobString(ByteBuffer)
    /// `-ERR ...` — a single-line error.
    case simpleError(ByteBuffer)
    /// `!21\r\nSYNTAX invalid syntax` — a binary-safe error.
    case blobError(ByteBuffer)
    /// `:42` — a signed 64-bit integer.
    case number(Int64)
    /// `,3.14`, `,inf`, `,-inf`, `,nan`.
    case double(Double)
    /// `_`, or a RESP2 `$-1` / `*-1`.
    case null
    /// `#t` / `#f`.
    case boolean(Bool)
    /// `=15\r\ntxt:Some string` — a string with a three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, text: ByteBuffer)
    /// `(3492890328409238509324850943850943825024385` — an integer of any size, as its decimal digits.
    case bigNumber(String)
    /// `*2\r\n...` — an ordered list.
    case array([RESPValue])
    /// `%2\r\n...` — key/value pairs in the order the server sent them.
    case map([RESPMapEntry])
    /// `~2\r\n...` — an unordered collection.
    case set([RESPValue])
    /// `>3\r\n...` — an out-of-band message (pub/sub, invalidation); never the reply to a command.
    case push([RESPValue])
}

/// One key/value pair of a RESP3 map.
public struct RESPMapEntry: Sendable, Hashable {
    /// The key.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates an entry.
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// True for ``simpleError(_:)`` and ``blobError(_:)``.
    public var isError: Bool {
        switch self {
        case .simpleError, .blobError: true
        default: false
        }
    }

    /// True for ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
