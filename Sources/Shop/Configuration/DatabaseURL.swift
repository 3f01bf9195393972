import NIOSSL
public import PostgresNIO

/// A validated `postgres://user:password@host:port/database` URL.
public struct DatabaseURL: Sendable, Equatable {
    /// How the connection uses TLS (`sslmode` in the URL's query).
    public enum TLSMode: String, Sendable {
        /// Plain TCP (the default: loopback needs no TLS).
        case disable
        /// TLS when the server offers it.
        case prefer
        /// TLS, verifying the server's certificate against the system's trust roots.
        case require
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port (default 5432).
    public var port: Int
    /// The role to log in as.
    public var user: String
    /// Its password, if any. Never logged.
    public var password: String?
    /// The database to connect to.
    public var database: String
    /// TLS use.
    public var tls: TLSMode

    /// Parses and validates `string`.
    /// - Parameter string: `postgres://` or `postgresql://` URL; `?sslmode=disable|prefer|require` is optional.
    public init(_ string: String) throws(URLProblem) {
        let url = try ServiceURL(string)
        guard url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw URLProblem("must start with postgres:// (got \(ShopConfiguration.quoted(url.scheme))://)")
        }
        guard let user = url.user else { throw URLProblem("has no user name (postgres://user:password@host/db)") }
        guard !url.path.isEmpty, !url.path.contains("/") else {
            throw URLProblem("must name one database (postgres://user:password@host/db)")
        }
        self.host = url.host
        self.port = url.port ?? 5432
        self.user = user
        self.password = url.password
        self.database = url.path
        self.tls = .disable
        for (name, value) in url.query {
            switch name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw URLProblem("sslmode \(ShopConfiguration.quoted(value)) is not disable, prefer or require")
                }
                self.tls = mode
            default:
                throw URLProblem("has an unknown parameter \(ShopConfiguration.quoted(name)) (only sslmode is known)")
            }
        }
    }

    /// The same server with another database (tests create their own).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The URL with the password replaced by `***`, safe to log.
    public var redacted: String {
        let secret = self.password == nil ? "" : ":***"
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "postgres://\(self.user)\(secret)@\(host):\(self.port)/\(self.database)"
    }

    /// The postgres-nio client configuration for this URL.
    /// - Parameters:
    ///   - maxConnections: The pool's size limit.
    ///   - idleTransactionTimeout: PostgreSQL ends a session of this pool that sits inside a transaction without
    ///     sending anything for this long (`idle_in_transaction_session_timeout`, set at login), rolling the
    ///     transaction back and freeing its locks; nil: the server's setting.
    public func clientConfiguration(
        maxConnections: Int = 10,
        idleTransactionTimeout: Duration? = nil
    ) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: self.host,
            port: self.port,
            username: self.user,
            password: self.password,
            database: self.database,
            tls: tls
        )
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(5)
        if let idleTransactionTimeout {
            let milliseconds = max(
                1,
                idleTransactionTimeout.components.seconds * 1000
                    + idleTransactionTimeout.components.attoseconds / 1_000_000_000_000_000
            )
            configuration.options.additionalStartupParameters = [
                ("idle_in_transaction_session_timeout", String(milliseconds))
            ]
        }
        return configuration
    }
}
