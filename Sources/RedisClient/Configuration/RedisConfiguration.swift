public import NIOSSL

/// Everything the client needs to reach a server and how it behaves; every field has a safe default.
///
/// Create one from a URL (`redis://user:password@host:6379/0`, `rediss://` for TLS) and adjust fields as needed.
/// `redis+cluster://host:port,host:port` selects Redis Cluster (the hosts are seeds); see ``topology``.
/// The description hides the password.
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    /// Which kind of deployment the client talks to.
    public enum Topology: Sendable, Hashable {
        /// One server at ``RedisConfiguration/host`` and ``RedisConfiguration/port``.
        case standalone
        /// Redis Cluster. The seeds are asked for the slot map (`CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers
        /// before 7.0); commands then go to the node that owns their keys' slot. ``RedisConfiguration/host`` and
        /// ``RedisConfiguration/port`` are the first seed.
        case cluster(seeds: [RedisEndpoint])
        /// A primary and its replicas watched by Redis Sentinel. The sentinels are asked for the primary of
        /// `masterName` (`SENTINEL GET-MASTER-ADDR-BY-NAME`); the client follows `+switch-master` and checks `ROLE`
        /// on every new connection, so a demoted primary is never written to. Sentinels are contacted without
        /// credentials; the primary with the configured ones.
        case sentinel(sentinels: [RedisEndpoint], masterName: String)
    }

    /// Where a read-only command may be served on Redis Cluster.
    public enum ReadFrom: Sendable, Hashable {
        /// Every command goes to the primary that owns its slot (the default): a read sees every write the primary
        /// acknowledged.
        case primary
        /// A command known to be read-only (``RedisCommand/isReadOnly``, a fixed allow-list: `GET`, `MGET`, `HGETALL`,
        /// `ZRANGE`, `XRANGE`, ...) that `send` routes goes to a replica of its slot's shard, connected with
        /// `READONLY`; a replica that cannot be reached or answers with an error (`MOVED`, `LOADING`, ...) is left
        /// for the slot's primary within the same deadline. Replication is asynchronous: such a read may not see a
        /// write that was just acknowledged. Pipelines, transactions and every other command still go to primaries.
        case replicaPreferred
    }

    /// Which kind of deployment the client talks to; `.standalone` unless the URL says otherwise.
    public var topology: Topology = .standalone
    /// On Redis Cluster, whether read-only commands may be served by replicas; `.primary` (never) by default. Ignored
    /// on a single server and with Sentinel. See ``ReadFrom``.
    public var readFrom: ReadFrom = .primary
    /// Set on the pools of a cluster replica: the handshake sends `READONLY`, so the replica serves reads of its
    /// primary's slots instead of answering `MOVED`.
    var readOnlyReplica = false
    /// Set on the pools of a Sentinel-discovered primary: the handshake checks `ROLE` and refuses a replica.
    var requiresPrimaryRole = false
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
    ///
    /// `redis+cluster://[[user]:password@]host:port,host:port` (or `rediss+cluster://`) selects Redis Cluster; the
    /// hosts are seeds and no database may be named (a cluster has only database 0).
    public init(url: String) throws {
        let parsed = try RedisURL(parsing: url)
        self.host = parsed.endpoints[0].host
        self.port = parsed.endpoints[0].port
        self.username = parsed.username
        self.password = parsed.password
        self.database = parsed.database
        if parsed.tls { self.tls = .makeClientConfiguration() }
        if parsed.cluster { self.topology = .cluster(seeds: parsed.endpoints) }
        if let masterName = parsed.masterName {
            self.topology = .sentinel(sentinels: parsed.endpoints, masterName: masterName)
        }
    }

    /// The URL form, with the password replaced by `***`.
    public var description: String {
        let scheme = self.tls == nil ? "redis" : "rediss"
        var credentials = ""
        if self.username != nil || self.password != nil {
            credentials = "\(self.username ?? "")\(self.password == nil ? "" : ":***")@"
        }
        switch self.topology {
        case .standalone:
            let endpoint = RedisEndpoint(host: self.host, port: self.port)
            return "\(scheme)://\(credentials)\(endpoint)/\(self.database)"
        case .cluster(let seeds):
            return "\(scheme)+cluster://\(credentials)\(seeds.map(\.description).joined(separator: ","))"
        case .sentinel(let sentinels, let masterName):
            let hosts = sentinels.map(\.description).joined(separator: ",")
            return "\(scheme)+sentinel://\(credentials)\(hosts)/\(masterName)/\(self.database)"
        }
    }

    /// A copy of this configuration for one node of a cluster: same credentials, TLS, timeouts and limits.
    func forNode(_ endpoint: RedisEndpoint) -> RedisConfiguration {
        var node = self
        node.host = endpoint.host
        node.port = endpoint.port
        node.topology = .standalone
        return node
    }

    /// A copy of this configuration for one replica of a cluster, whose connections send `READONLY`.
    func forReplica(_ endpoint: RedisEndpoint) -> RedisConfiguration {
        var replica = self.forNode(endpoint)
        replica.readOnlyReplica = true
        return replica
    }

    /// A copy for a sentinel: its address, no credentials, database 0, no role check.
    func forSentinel(_ endpoint: RedisEndpoint) -> RedisConfiguration {
        var sentinel = self.forNode(endpoint)
        sentinel.username = nil
        sentinel.password = nil
        sentinel.database = 0
        sentinel.clientName = nil
        return sentinel
    }
}

/// A server's address: host name or IP address, and port.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address (IPv6 without brackets).
    public var host: String
    /// The port.
    public var port: Int

    /// Creates an endpoint.
    /// - Parameters:
    ///   - host: The host name or IP address.
    ///   - port: The port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with IPv6 addresses in brackets.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// The parts of a `redis://` URL.
struct RedisURL {
    var tls: Bool
    var cluster: Bool
    var username: String?
    var password: String?
    /// One for `redis://`; one or more: the seeds for `redis+cluster://`, the sentinels for `redis+sentinel://`.
    var endpoints: [RedisEndpoint]
    var database: Int
    /// For `redis+sentinel://`: the name the sentinels monitor the primary under.
    var masterName: String?

    init(parsing url: String) throws {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidConfiguration, "invalid Redis URL: \(reason)")
        }
        var rest = Substring(url)
        let schemes: [(prefix: String, tls: Bool, cluster: Bool, sentinel: Bool)] = [
            ("redis://", false, false, false), ("rediss://", true, false, false),
            ("redis+cluster://", false, true, false), ("rediss+cluster://", true, true, false),
            ("redis+sentinel://", false, false, true), ("rediss+sentinel://", true, false, true),
        ]
        guard let scheme = schemes.first(where: { rest.hasPrefix($0.prefix) }) else {
            let scheme = rest.range(of: "://").map { "\"\(rest[..<$0.lowerBound].prefix(16))\"://" } ?? "no scheme"
            throw invalid(
                "must start with redis://, rediss://, redis+cluster://, redis+sentinel:// or their rediss+ forms "
                    + "(got \(scheme))"
            )
        }
        self.tls = scheme.tls
        self.cluster = scheme.cluster
        self.masterName = nil
        rest = rest.dropFirst(scheme.prefix.count)
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
        if scheme.sentinel {
            // redis+sentinel://sentinels/<master name>[/<database>]
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard let name = parts.first, !name.isEmpty,
                name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) }), name.count <= 128
            else { throw invalid("redis+sentinel:// needs the master name after the hosts (/<name>)") }
            guard parts.count <= 2 else { throw invalid("unexpected text after the database") }
            self.masterName = String(name)
            path = parts.count == 2 ? parts[1] : ""
        }
        let hosts = rest.split(separator: ",", omittingEmptySubsequences: false)
        guard self.cluster || scheme.sentinel || hosts.count == 1 else {
            throw invalid("several hosts need redis+cluster:// or redis+sentinel://")
        }
        self.endpoints = try hosts.map { try Self.endpoint(parsing: $0, invalid) }
        if path.isEmpty {
            self.database = 0
        } else if self.cluster {
            throw invalid("a cluster has only database 0; remove \"/\(path.prefix(16))\"")
        } else {
            guard let database = Int(path), database >= 0 else {
                throw invalid("database \"\(path.prefix(16))\" is not a database number")
            }
            self.database = database
        }
    }

    private static func endpoint(
        parsing text: Substring,
        _ invalid: (String) -> RedisError
    ) throws -> RedisEndpoint {
        let rest = text
        let host: String
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw invalid("missing host") }
        guard host.allSatisfy({ !$0.isWhitespace && $0 != "/" && $0 != "@" }) else {
            throw invalid("malformed host")
        }
        guard let portText else { return RedisEndpoint(host: host, port: 6379) }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw invalid("port \"\(portText.prefix(16))\" is not a port number (1-65535)")
        }
        return RedisEndpoint(host: host, port: port)
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
