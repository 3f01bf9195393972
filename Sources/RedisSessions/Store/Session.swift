#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Where a session was started from, recorded for "list my sessions".
public struct SessionClient: Sendable, Hashable {
    /// The `User-Agent` the client sent, cut to ``maxUserAgentLength`` characters.
    public var userAgent: String
    /// The client's address (as the application determined it).
    public var address: String

    /// The longest user agent kept.
    public static let maxUserAgentLength = 256

    /// Creates client information; the user agent is cut to ``maxUserAgentLength`` characters.
    /// - Parameters:
    ///   - userAgent: The `User-Agent` header, or empty.
    ///   - address: The client's address, or empty.
    public init(userAgent: String, address: String) {
        self.userAgent = String(userAgent.prefix(Self.maxUserAgentLength))
        self.address = String(address.prefix(64))
    }
}

/// A live session as loaded for the current request: the identifier, the application's value and metadata.
public struct Session<Value: Codable & Sendable>: Sendable {
    /// The identifier. Secret: it goes back to the client as the cookie and nowhere else.
    public let id: SessionID
    /// The application's data (for example the signed-in user).
    public var value: Value
    /// The user the session belongs to, if any; sessions with a user are in that user's index.
    public var userID: String?
    /// When the session was created.
    public var createdAt: Date
    /// The last recorded use (see ``RedisSessionConfiguration/touchInterval``).
    public var lastSeenAt: Date
    /// The absolute deadline: the session ends then, however active it is.
    public var expiresAt: Date
    /// Where the session was started from.
    public var client: SessionClient

    /// The public handle (see ``SessionID/handle``).
    public var handle: String { self.id.handle }

    /// Creates a session value (the store does this; tests may too).
    /// - Parameters:
    ///   - id: The identifier.
    ///   - value: The application's data.
    ///   - userID: The owner, if any.
    ///   - createdAt: Creation time.
    ///   - lastSeenAt: Last recorded use.
    ///   - expiresAt: Absolute deadline.
    ///   - client: Where it was started from.
    public init(
        id: SessionID,
        value: Value,
        userID: String?,
        createdAt: Date,
        lastSeenAt: Date,
        expiresAt: Date,
        client: SessionClient
    ) {
        self.id = id
        self.value = value
        self.userID = userID
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.client = client
    }
}

/// One entry of a user's session list: everything about a session except its identifier and value.
public struct SessionInfo: Sendable, Hashable {
    /// The public handle, usable with ``RedisSessionStore/revoke(handle:userID:)``.
    public var handle: String
    /// When the session was created.
    public var createdAt: Date
    /// The last recorded use.
    public var lastSeenAt: Date
    /// The absolute deadline.
    public var expiresAt: Date
    /// Where the session was started from.
    public var client: SessionClient

    /// Creates an entry.
    /// - Parameters:
    ///   - handle: The public handle.
    ///   - createdAt: Creation time.
    ///   - lastSeenAt: Last recorded use.
    ///   - expiresAt: Absolute deadline.
    ///   - client: Where it was started from.
    public init(handle: String, createdAt: Date, lastSeenAt: Date, expiresAt: Date, client: SessionClient) {
        self.handle = handle
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.client = client
    }
}

/// A failure of the session store that is not a Redis error (those are thrown as `RedisError`).
///
/// Compare ``code`` with the static members of ``Code``; new codes may be added without breaking callers.
/// The description never contains a session id.
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidConfiguration
            case invalidUserID
            case encodingFailed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { self.base.rawValue }

        /// The configuration cannot be used.
        public static let invalidConfiguration = Self(.invalidConfiguration)
        /// A user id is empty, longer than 128 bytes, or contains `{` or `}`.
        public static let invalidUserID = Self(.invalidUserID)
        /// The session value could not be encoded as JSON.
        public static let encodingFailed = Self(.encodingFailed)
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong.
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind.
    ///   - message: An explanation without secrets.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func invalidConfiguration(_ message: String) -> Self { Self(.invalidConfiguration, message) }

    public var description: String { "\(self.code): \(self.message)" }
}
