/// Bytes from the server that are not valid RESP3, or that exceed a configured limit.
///
/// A connection that reports this error is closed: after malformed bytes there is no way to find the start of
/// the next reply.
public struct RESPDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidTypeByte
        case unsupportedStreamedType
        case malformedLength
        case malformedNumber
        case malformedDouble
        case malformedBoolean
        case malformedBigNumber
        case malformedVerbatimString
        case missingCRLF
        case lineTooLong
        case bulkTooLong
        case aggregateTooLong
        case nestingTooDeep
        case pushInsideAggregate
        case malformedNull
        case replyTooLong
    }

    private let code: Code
    /// A human-readable explanation, without any of the payload bytes beyond the type byte.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RESP decoding error: \(self.message)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// A frame started with a byte that is not a RESP3 type.
    public static let invalidTypeByte = Self(.invalidTypeByte, "unknown type byte")
    /// Streamed strings and aggregates (`$?`, `*?`, `;`, `.`) are not supported.
    public static let unsupportedStreamedType = Self(.unsupportedStreamedType, "streamed RESP3 types are not supported")
    /// A length prefix is not a valid integer, is negative where that is not allowed, or overflows.
    public static let malformedLength = Self(.malformedLength, "malformed length")
    /// A `:` number is not a valid signed 64-bit integer.
    public static let malformedNumber = Self(.malformedNumber, "malformed number")
    /// A `,` double is not a valid floating-point number.
    public static let malformedDouble = Self(.malformedDouble, "malformed double")
    /// A `#` boolean is neither `t` nor `f`.
    public static let malformedBoolean = Self(.malformedBoolean, "malformed boolean")
    /// A `(` big number is not an optionally signed run of digits.
    public static let malformedBigNumber = Self(.malformedBigNumber, "malformed big number")
    /// A `=` verbatim string lacks its `xxx:` format prefix.
    public static let malformedVerbatimString = Self(.malformedVerbatimString, "malformed verbatim string")
    /// A line or a bulk payload is not terminated by CRLF.
    public static let missingCRLF = Self(.missingCRLF, "missing CRLF terminator")
    /// A line is longer than ``RESPDecoder/Limits/maxLineLength``.
    public static let lineTooLong = Self(.lineTooLong, "line exceeds the configured maximum length")
    /// A bulk payload is longer than ``RESPDecoder/Limits/maxBulkLength``.
    public static let bulkTooLong = Self(.bulkTooLong, "bulk length exceeds the configured maximum")
    /// An aggregate has more elements than ``RESPDecoder/Limits/maxAggregateLength``.
    public static let aggregateTooLong = Self(.aggregateTooLong, "aggregate length exceeds the configured maximum")
    /// Aggregates are nested deeper than ``RESPDecoder/Limits/maxDepth``.
    public static let nestingTooDeep = Self(.nestingTooDeep, "aggregates nested deeper than the configured maximum")
    /// A `>` push frame appeared inside an aggregate; pushes are top-level only.
    public static let pushInsideAggregate = Self(.pushInsideAggregate, "push frame inside an aggregate")
    /// A `_` null carries bytes before its CRLF.
    public static let malformedNull = Self(.malformedNull, "malformed null")
    /// One reply takes more bytes than ``RESPDecoder/Limits/maxReplyBytes``.
    public static let replyTooLong = Self(.replyTooLong, "reply exceeds the configured maximum size")
}
