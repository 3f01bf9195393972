public import Configuration
import Logging
import RedisClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension ShopConfiguration {
    /// One configuration key: its swift-configuration name, environment variable and command-line flag.
    public struct Key: Sendable {
        /// The swift-configuration key (`http.port`).
        public let name: String
        /// The environment variable it is read from (`HTTP_PORT`).
        public let variable: String
        /// The command-line flag that sets it (`--http-port`).
        public let flag: String
        /// Whether the value may hold a password and must never be logged.
        public let isSecret: Bool

        init(_ name: String, _ variable: String, _ flag: String, isSecret: Bool = false) {
            self.name = name
            self.variable = variable
            self.flag = flag
            self.isSecret = isSecret
        }

        /// `HTTP_HOST`: the address the HTTP server binds to. Default `127.0.0.1`.
        public static let httpHost = Key("http.host", "HTTP_HOST", "--http-host")
        /// `HTTP_PORT`: the HTTP port, 1–65535. Default `8080`.
        public static let httpPort = Key("http.port", "HTTP_PORT", "--http-port")
        /// `DATABASE_URL`: `postgres://user:password@host:port/database[?sslmode=disable|prefer|require]`.
        public static let databaseURL = Key("database.url", "DATABASE_URL", "--database-url", isSecret: true)
        /// `DATABASE_MAX_CONNECTIONS`: the size limit of the PostgreSQL pool, 1–1000. Default `10`.
        public static let databaseMaxConnections = Key(
            "database.maxConnections",
            "DATABASE_MAX_CONNECTIONS",
            "--database-max-connections"
        )
        /// `DATABASE_MIGRATE_ON_START`: `true` or `false`; whether `serve` migrates first. Default `true`.
        public static let databaseMigrateOnStart = Key(
            "database.migrateOnStart",
            "DATABASE_MIGRATE_ON_START",
            "--database-migrate-on-start"
        )
        /// `DATABASE_STARTUP_TIMEOUT_MS`: how long to wait for PostgreSQL at start, 1–600000. Default `15000`.
        public static let databaseStartupTimeoutMs = Key(
            "database.startupTimeoutMs",
            "DATABASE_STARTUP_TIMEOUT_MS",
            "--database-startup-timeout-ms"
        )
        /// `DATABASE_REQUEST_WAIT_MS`: how long a request waits for a database connection before it answers
        /// `503`, 1–60000. Default `2000`.
        public static let databaseRequestWaitMs = Key(
            "database.requestWaitMs",
            "DATABASE_REQUEST_WAIT_MS",
            "--database-request-wait-ms"
        )
        /// `DATABASE_IDLE_TRANSACTION_TIMEOUT_MS`: how long PostgreSQL lets a session of this instance sit idle
        /// inside a transaction before it ends it (rolled back, its locks released), 1000–3600000. Default `60000`.
        public static let databaseIdleTransactionTimeoutMs = Key(
            "database.idleTransactionTimeoutMs",
            "DATABASE_IDLE_TRANSACTION_TIMEOUT_MS",
            "--database-idle-transaction-timeout-ms"
        )
        /// `REDIS_URL`: `redis://[user:password@]host[:port][/db]`. Default `redis://127.0.0.1:6379/0`.
        public static let redisURL = Key("redis.url", "REDIS_URL", "--redis-url", isSecret: true)
        /// `INSTANCE_ID`: 1–64 characters of `A-Z a-z 0-9 . _ -`. Default `<hostname>-<pid>`.
        public static let instanceID = Key("instance.id", "INSTANCE_ID", "--instance-id")
        /// `LOG_LEVEL`: trace, debug, info, notice, warning, error or critical. Default `info`.
        public static let logLevel = Key("log.level", "LOG_LEVEL", "--log-level")
        /// `LOG_FORMAT`: `text` (one human-readable line per entry) or `json` (one JSON object per line, with the
        /// current span's `trace_id`/`span_id`). Default `text`.
        public static let logFormat = Key("log.format", "LOG_FORMAT", "--log-format")
        /// `HEALTH_TIMEOUT_MS`: milliseconds one readiness check may take, 1–60000. Default `1000`.
        public static let healthTimeoutMs = Key("health.timeoutMs", "HEALTH_TIMEOUT_MS", "--health-timeout-ms")
        /// `DASHBOARD_WRITE_INTERVAL_MS`: milliseconds between two writes of this instance's dashboard figures to
        /// Redis, 100–60000. Default `10000`.
        public static let dashboardWriteIntervalMs = Key(
            "dashboard.writeIntervalMs",
            "DASHBOARD_WRITE_INTERVAL_MS",
            "--dashboard-write-interval-ms"
        )

        /// Every key, in the order `docs/operations.md` lists them.
        public static let all: [Key] =
            [
                .httpHost, .httpPort, .databaseURL, .databaseMaxConnections, .databaseMigrateOnStart,
                .databaseStartupTimeoutMs, .databaseRequestWaitMs, .databaseIdleTransactionTimeoutMs, .redisURL,
                .instanceID, .logLevel, .logFormat, .healthTimeoutMs, .dashboardWriteIntervalMs,
            ] + Key.accounts + Key.cache + Key.orders + Key.jobs + Key.notifications + Key.queue + Key.rates
            + Key.payments
    }

    /// Reads and validates every key from `reader`; missing keys keep their defaults.
    ///
    /// - Parameter reader: Typically flags first, then `EnvironmentVariablesProvider`.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used, or the key to set when
    ///   a non-loopback `HTTP_HOST` meets a local-only default (``checkExposure()``).
    public init(reader: ConfigReader) throws {
        self.init()
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }

        if let value = read(.httpHost) {
            self.httpHost = try Self.host(value, key: .httpHost)
        }
        if let value = read(.httpPort) {
            self.httpPort = try Self.port(value, key: .httpPort)
        }
        if let value = read(.databaseURL) {
            do {
                self.database = try DatabaseURL(value)
            } catch {
                throw ConfigurationError(variable: Key.databaseURL.variable, problem: error.problem)
            }
        }
        if let value = read(.databaseMaxConnections) {
            self.databaseMaxConnections = try Self.integer(value, in: 1...1000, key: .databaseMaxConnections)
        }
        if let value = read(.databaseMigrateOnStart) {
            self.migrateOnStart = try Self.bool(value, key: .databaseMigrateOnStart)
        }
        if let value = read(.databaseStartupTimeoutMs) {
            self.databaseStartupTimeout = .milliseconds(
                try Self.integer(value, in: 1...600_000, key: .databaseStartupTimeoutMs)
            )
        }
        if let value = read(.databaseRequestWaitMs) {
            self.databaseRequestWait = .milliseconds(
                try Self.integer(value, in: 1...60_000, key: .databaseRequestWaitMs)
            )
        }
        if let value = read(.databaseIdleTransactionTimeoutMs) {
            self.databaseIdleTransactionTimeout = .milliseconds(
                try Self.integer(value, in: 1_000...3_600_000, key: .databaseIdleTransactionTimeoutMs)
            )
        }
        if let value = read(.redisURL) {
            do {
                self.redis = try RedisConfiguration(url: value)
            } catch let error as RedisError {
                let prefix = "invalid Redis URL: "
                let problem =
                    error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
                throw ConfigurationError(variable: Key.redisURL.variable, problem: problem)
            }
        }
        if let value = read(.instanceID) {
            guard Self.isValidInstanceID(value) else {
                throw ConfigurationError(
                    variable: Key.instanceID.variable,
                    problem: "\(Self.quoted(value)) is not an instance id (1-64 characters of A-Z a-z 0-9 . _ -)"
                )
            }
            self.instanceID = value
        }
        if let value = read(.logLevel) {
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw ConfigurationError(
                    variable: Key.logLevel.variable,
                    problem:
                        "\(Self.quoted(value)) is not a log level (trace, debug, info, notice, warning, error, critical)"
                )
            }
            self.logLevel = level
        }
        if let value = read(.logFormat) {
            guard let format = LogFormat(rawValue: value.lowercased()) else {
                throw ConfigurationError(
                    variable: Key.logFormat.variable,
                    problem: "\(Self.quoted(value)) is not a log format (text, json)"
                )
            }
            self.logFormat = format
        }
        if let value = read(.healthTimeoutMs) {
            self.healthTimeout = .milliseconds(try Self.integer(value, in: 1...60_000, key: .healthTimeoutMs))
        }
        if let value = read(.dashboardWriteIntervalMs) {
            self.dashboardWriteInterval = .milliseconds(
                try Self.integer(value, in: 100...60_000, key: .dashboardWriteIntervalMs)
            )
        }
        try self.accounts.read(from: reader)
        try self.cache.read(from: reader)
        try self.orders.read(from: reader)
        try self.jobs.read(from: reader)
        try self.notifications.read(from: reader)
        try self.queue.read(from: reader)
        try self.rates.read(from: reader)
        try self.payments.read(from: reader)
        // The local-only defaults are refused when the service is reachable from other machines.
        try self.checkExposure()
    }

    static func host(_ value: String, key: Key) throws -> String {
        let allowed = value.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || ".-:_".unicodeScalars.contains(scalar))
        }
        guard !value.isEmpty, value.count <= 253, allowed else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(Self.quoted(value)) is not a host name or IP address"
            )
        }
        return value
    }

    static func port(_ value: String, key: Key) throws -> Int {
        guard let port = Int(value), (1...65535).contains(port) else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(Self.quoted(value)) is not a port number (1-65535)"
            )
        }
        return port
    }

    static func integer(_ value: String, in range: ClosedRange<Int>, key: Key) throws -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(Self.quoted(value)) is not an integer from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return number
    }

    static func bool(_ value: String, key: Key) throws -> Bool {
        switch value.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            throw ConfigurationError(variable: key.variable, problem: "\(Self.quoted(value)) is not true or false")
        }
    }

    /// A Redis key prefix: 0–64 characters of `A-Z a-z 0-9 : . _ -`.
    static func keyPrefix(_ value: String, key: Key) throws -> String {
        guard Self.isValidPrefix(value) else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(Self.quoted(value)) is not a key prefix (0-64 characters of A-Z a-z 0-9 : . _ -)"
            )
        }
        return value
    }

    static func isValidPrefix(_ value: String) -> Bool {
        value.utf8.count <= 64
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "_"),
                    UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    static func isValidInstanceID(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 64
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    /// The value in double quotes, with control characters escaped and cut to a readable length.
    static func quoted(_ value: String) -> String {
        var shown = value.count > 80 ? String(value.prefix(80)) + "…" : value
        shown = shown.unicodeScalars.map { scalar in
            switch scalar {
            case "\"": "\\\""
            case "\\": "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: "\\u{\(String(scalar.value, radix: 16))}"
            default: String(scalar)
            }
        }.joined()
        return "\"\(shown)\""
    }

    static func defaultInstanceID() -> String {
        let host = ProcessInfo.processInfo.hostName
        let cleaned = String(
            host.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-")
                    ? Character(scalar) : "-"
            }.prefix(48)
        )
        let base = cleaned.isEmpty ? "shop" : cleaned
        return "\(base)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The configuration as log metadata, with passwords masked.
    public var redactedDescription: String {
        "http=\(self.httpHost):\(self.httpPort) database=\(self.database.redacted) "
            + "redis=\(self.redis) logLevel=\(self.logLevel) logFormat=\(self.logFormat.rawValue) migrateOnStart=\(self.migrateOnStart)"
    }
}
