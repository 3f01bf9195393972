/// A failure of the queue library (Redis errors are passed through as `RedisError`).
public struct StreamQueueError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable, Hashable {
        case invalidName, invalidMessage, malformedReply
    }

    private let code: Code
    /// What was wrong, without payloads or secrets.
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// A topic or group name is empty, too long, or contains `{`, `}` or control characters.
    /// - Parameter name: The name (quoted shortened).
    public static func invalidName(_ name: String) -> Self {
        Self(.invalidName, "invalid topic or group name \"\(name.prefix(64))\"")
    }

    /// A message to publish is not valid (empty id or type, bad header name).
    /// - Parameter reason: What is wrong, without the message's content.
    public static func invalidMessage(_ reason: String) -> Self { Self(.invalidMessage, reason) }

    /// Redis answered a queue script with something the library did not expect.
    /// - Parameter what: Which reply.
    public static func malformedReply(_ what: String) -> Self { Self(.malformedReply, what) }

    /// True for ``invalidName(_:)``.
    public var isInvalidName: Bool { self.code == .invalidName }
    /// True for ``invalidMessage(_:)``.
    public var isInvalidMessage: Bool { self.code == .invalidMessage }

    public var description: String { self.detail }
}
