/// An error from the Redis client: an error reply from the server, or a failure of the client itself.
///
/// Compare ``code`` against the static members of ``Code``; new codes may be added without breaking callers.
/// The description never contains credentials or command arguments.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case server
            case connectionClosed
            case connectionUnavailable
            case connectTimeout
            case commandTimeout
            case protocolViolation
            case authenticationFailed
            case unexpectedReply
            case leaseTimeout
            case shutdown
            case invalidConfiguration
            case transactionAborted
            case unsupportedServer
            case overloaded
            case crossSlot
            case clusterUnavailable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { self.base.rawValue }

        /// The server answered with an error reply (see ``RedisError/serverErrorPrefix``).
        public static let server = Self(.server)
        /// The connection closed before the reply arrived; the command may or may not have run.
        public static let connectionClosed = Self(.connectionClosed)
        /// No connection could be established (or one failed recently and the client is backing off).
        public static let connectionUnavailable = Self(.connectionUnavailable)
        /// Connecting took longer than the configured connect timeout.
        public static let connectTimeout = Self(.connectTimeout)
        /// The reply did not arrive within the command timeout; it will be discarded when it does.
        public static let commandTimeout = Self(.commandTimeout)
        /// The server sent bytes that are not valid RESP3, or a reply nobody asked for.
        public static let protocolViolation = Self(.protocolViolation)
        /// `HELLO ... AUTH` was refused.
        public static let authenticationFailed = Self(.authenticationFailed)
        /// The reply had a type the typed helper did not expect.
        public static let unexpectedReply = Self(.unexpectedReply)
        /// No dedicated connection became free within the lease timeout.
        public static let leaseTimeout = Self(.leaseTimeout)
        /// The client is shutting down or has shut down.
        public static let shutdown = Self(.shutdown)
        /// The configuration (for example a URL) is invalid.
        public static let invalidConfiguration = Self(.invalidConfiguration)
        /// `EXEC` returned null because a watched key changed, or the transaction was discarded.
        public static let transactionAborted = Self(.transactionAborted)
        /// The server does not speak RESP3 (`HELLO 3`); Redis 6 or later is required.
        public static let unsupportedServer = Self(.unsupportedServer)
        /// The connection already has as many requests (or bytes) waiting for replies as its limits allow
        /// (``RedisConfiguration/maxPendingRequests``, ``RedisConfiguration/maxPendingBytes``): the server is not
        /// keeping up, or not reading. Nothing was sent.
        public static let overloaded = Self(.overloaded)
        /// On Redis Cluster: the keys of one command, script, transaction or multi-key helper are in different hash
        /// slots. Nothing was sent. Give keys that belong together one hash tag (`{order:1}:lines`).
        public static let crossSlot = Self(.crossSlot)
        /// On Redis Cluster or Sentinel: no node serves the slot (or no primary was found) after the retries that
        /// fit the caller's deadline.
        public static let clusterUnavailable = Self(.clusterUnavailable)
    }

    /// What kind of failure this is.
    public let code: Code
    /// A human-readable explanation; for ``Code/server`` the server's error text.
    public let message: String
    /// The error that caused this one, if any (for example a socket error).
    public let underlying: (any Error)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: What kind of failure this is.
    ///   - message: A human-readable explanation; must not contain secrets.
    ///   - underlying: The error that caused this one.
    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// For a server error, its first word: `ERR`, `WRONGTYPE`, `NOSCRIPT`, `NOPERM`, `BUSYGROUP`, ...
    public var serverErrorPrefix: Substring? {
        guard self.code == .server else { return nil }
        return self.message.split(separator: " ", maxSplits: 1).first
    }

    /// True when the error says Redis could not do the work *now* — it could not be reached, did not answer in
    /// time, or answered that it is loading, busy, read-only, out of memory or not serving its slots — rather than
    /// that the command was wrong. Such a failure is worth waiting out and trying again; anything else (a syntax
    /// or type error, a script error, a refused login) fails the same way every time.
    public var isUnavailability: Bool {
        switch self.code {
        case .connectionClosed, .connectionUnavailable, .connectTimeout, .commandTimeout, .leaseTimeout, .overloaded,
            .clusterUnavailable:
            return true
        case .server:
            let transient: Set<Substring> = [
                "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "OOM", "NOREPLICAS",
            ]
            return self.serverErrorPrefix.map(transient.contains) ?? false
        default:
            return false
        }
    }

    public var description: String {
        if let underlying {
            return "RedisError.\(self.code): \(self.message) (\(underlying))"
        }
        return "RedisError.\(self.code): \(self.message)"
    }
}

extension RedisError {
    /// Makes a server error from an error reply, or returns nil if the value is not an error.
    static func fromReply(_ value: RESPValue) -> RedisError? {
        switch value {
        case .simpleError(let text), .blobError(let text):
            return RedisError(.server, String(buffer: text))
        default:
            return nil
        }
    }

    static func unexpected(_ value: RESPValue, expected: String) -> RedisError {
        RedisError(.unexpectedReply, "expected \(expected), got \(value.typeName)")
    }
}

extension RESPValue {
    /// The RESP3 type name, for error messages (never the content).
    public var typeName: String {
        switch self {
        case .simpleString: "simple string"
        case .blobString: "blob string"
        case .simpleError: "simple error"
        case .blobError: "blob error"
        case .number: "number"
        case .double: "double"
        case .null: "null"
        case .boolean: "boolean"
        case .verbatimString: "verbatim string"
        case .bigNumber: "big number"
        case .array: "array"
        case .map: "map"
        case .set: "set"
        case .push: "push"
        }
    }
}
