public import NIOSSL

/// Everything the client needs to reach a server and how it behaves; every field has a safe default.
///
/// Create one from a URL (`redis://user:password@host:6379/0`, `rediss://` for TLS) and adjust fields as needed.
/// The description hides the password.
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    /// The server's host name or IP address.
    public var host: String = "127.0.0.1"
    /// The server's port.
    public var port: Int = 6379
    /// The ACL user; `nil` authenticates as `default` when a password is set.
    public var username: String?
    /// The password; `nil` sends no `AUTH`.
    public var password: String?
    /// The logical database selected on every connection (`SELECT`).
    public var database: Int = 0
    /// TLS settings; non-nil for `rediss://`.
    public var tls: TLSConfiguration?
    /// The name sent with `HELLO ... SETNAME` so the client shows in `CLIENT LIST`; nil sends none.
    public var clientName: String?
    /// How long to wait for a TCP (and TLS) connection and the `HELLO` handshake.
    public var connectTimeout: Duration = .seconds(2)
    /// How long a command waits for its reply by default; `nil` waits forever.
    public var commandTimeout: Duration? = .seconds(5)
    /// How many shared, auto-pipelined connections carry ordinary commands.
    public var multiplexedConnections: Int = 1
    /// The most connections leased exclusively at once (blocking commands, `WATCH`, `withConnection`).
    public var maxDedicatedConnections: Int = 32
    /// How long a caller waits for a dedicated connection when all are leased.
    public var leaseTimeout: Duration = .seconds(5)
    /// Idle dedicated connections are closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// Connections are checked with `PING` this often; a check that fails or gets no answer within the command
    /// timeout closes the connection. Idle pooled connections are checked while ``RedisClient/run()`` runs; the
    /// subscriber connection is checked whenever it exists, so a partition or a NAT that dropped it is noticed
    /// within `keepAliveInterval` plus the command timeout (the connect timeout when there is none), reported to
    /// subscriptions as a gap, and the connection replaced.
    public var keepAliveInterval: Duration = .seconds(30)
    /// The most requests one connection holds waiting for replies; more fail at once with
    /// ``RedisError/Code/overloaded`` instead of queueing without bound behind a server that stopped answering.
    public var maxPendingRequests: Int = 100_000
    /// The most bytes of commands one connection holds unanswered (buffered or written); more fail at once with
    /// ``RedisError/Code/overloaded``. A single command larger than this is still sent when nothing else waits.
    public var maxPendingBytes: Int = 256 * 1024 * 1024
    /// Delay before the first reconnect attempt after a failure; doubles per failure up to `maxReconnectDelay`.
    public var initialReconnectDelay: Duration = .milliseconds(50)
    /// The longest delay between reconnect attempts.
    public var maxReconnectDelay: Duration = .seconds(2)
    /// Caps applied to every reply, the size of a whole reply included.
    public var decoderLimits = RESPDecoder.Limits()

    /// How long a health-check `PING` may wait: the command timeout, or the connect timeout when there is none.
    var healthCheckTimeout: Duration { self.commandTimeout ?? self.connectTimeout }

    /// Creates a configuration for a server on loopback with defaults.
    public init() {}

    /// Creates a configuration for a host and port.
    /// - Parameters:
    ///   - host: The server's host name or IP address.
    ///   - port: The server's port.
    public init(host: String, port: Int = 6379) {
        self.host = host
        self.port = port
    }

    /// Parses `redis://[[user]:password@]host[:port][/database]` or the same with `rediss://` (TLS).
    ///
    /// User and password may be percent-encoded. IPv6 hosts go in brackets: `redis://[::1]:6379`.
    /// - Parameter url: The URL.
    /// - Throws: ``RedisError`` with code ``RedisError/Code/invalidConfiguration`` naming what is wrong
    ///   (never echoing the password).
    public init(url: String) throws {
        let parsed = try RedisURL(parsing: url)
        self.host = parsed.host
        self.port = parsed.port
        self.username = parsed.username
        self.password = parsed.password
        self.database = parsed.database
        if parsed.tls { self.tls = .makeClientConfiguration() }
    }

    /// The URL form, with the password replaced by `***`.
    public var description: String {
        let scheme = self.tls == nil ? "redis" : "rediss"
        var credentials = ""
        if self.username != nil || self.password != nil {
            credentials = "\(self.username ?? "")\(self.password == nil ? "" : ":***")@"
        }
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(scheme)://\(credentials)\(host):\(self.port)/\(self.database)"
    }
}

/// The parts of a `redis://` URL.
struct RedisURL {
    var tls: Bool
    var username: String?
    var password: String?
    var host: String
    var port: Int
    var database: Int

    init(parsing url: String) throws {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidConfiguration, "invalid Redis URL: \(reason)")
        }
        var rest = Substring(url)
        if rest.hasPrefix("redis://") {
            self.tls = false
            rest = rest.dropFirst("redis://".count)
        } else if rest.hasPrefix("rediss://") {
            self.tls = true
            rest = rest.dropFirst("rediss://".count)
        } else {
            let scheme = rest.range(of: "://").map { "\"\(rest[..<$0.lowerBound].prefix(16))\"://" } ?? "no scheme"
            throw invalid("must start with redis:// or rediss:// (got \(scheme))")
        }
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            rest = rest[..<query]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        self.username = nil
        self.password = nil
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon], invalid("malformed percent-encoding in user"))
                self.username = user.isEmpty ? nil : user
                self.password = try Self.percentDecoded(
                    userInfo[userInfo.index(after: colon)...],
                    invalid("malformed percent-encoding in password")
                )
            } else {
                // A lone userinfo component is the password (redis-cli convention: redis://password@host).
                self.password = try Self.percentDecoded(userInfo, invalid("malformed percent-encoding in password"))
            }
        }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            self.host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            self.host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            self.host = String(rest)
        }
        guard !self.host.isEmpty else { throw invalid("missing host") }
        guard self.host.allSatisfy({ !$0.isWhitespace && $0 != "/" && $0 != "@" }) else {
            throw invalid("malformed host")
        }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw invalid("port \"\(portText.prefix(16))\" is not a port number (1-65535)")
            }
            self.port = port
        } else {
            self.port = 6379
        }
        if path.isEmpty {
            self.database = 0
        } else {
            guard let database = Int(path), database >= 0 else {
                throw invalid("database \"\(path.prefix(16))\" is not a database number")
            }
            self.database = database
        }
    }

    private static func percentDecoded(_ text: Substring, _ error: @autoclosure () -> RedisError) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue),
                    let low = iterator.next().flatMap(Self.hexValue)
                else { throw error() }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
