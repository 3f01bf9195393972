public import Logging
public import RedisClient

/// Everything the reference service needs to start, validated.
///
/// Build it with ``init()`` for the local defaults, or from a `ConfigReader` with
/// ``init(reader:)``, which reads and validates every key (see `docs/operations.md`).
public struct ShopConfiguration: Sendable {
    /// Where the HTTP server listens.
    public var httpHost: String
    /// The TCP port the HTTP server listens on (0 lets the system choose one).
    public var httpPort: Int
    /// PostgreSQL, as a parsed `postgres://` URL.
    public var database: DatabaseURL
    /// Redis, parsed from a `redis://` or `rediss://` URL by the client library itself.
    public var redis: RedisConfiguration
    /// This instance's name in logs, metrics and health answers.
    public var instanceID: String
    /// The minimum level of log lines written.
    public var logLevel: Logger.Level
    /// How log lines are written.
    public var logFormat: LogFormat
    /// The most connections the PostgreSQL pool opens.
    public var databaseMaxConnections: Int
    /// Whether `serve` applies pending migrations before it accepts requests.
    public var migrateOnStart: Bool
    /// How long `serve`, `migrate` and `seed` wait for PostgreSQL to answer at start.
    public var databaseStartupTimeout: Duration
    /// How long a request's database call may wait for a pooled connection before the request answers `503`
    /// (background work waits up to `Database.backgroundWait`, 30 s).
    public var databaseRequestWait: Duration
    /// How long PostgreSQL lets one of this instance's sessions sit inside a transaction without a word from it before
    /// it ends the session, rolling back and releasing its locks: the bound on how long a client that stalls or loses
    /// a reply mid-transaction can hold rows that other requests wait for.
    public var databaseIdleTransactionTimeout: Duration
    /// How long one readiness check may take before it counts as down.
    public var healthTimeout: Duration
    /// How often this instance writes its figures for the console's dashboard to Redis.
    public var dashboardWriteInterval: Duration
    /// Sessions, sign-in limits and password hashing (`SESSION_*`, `LOGIN_*`, `TRUST_PROXY`, ...).
    public var accounts: AccountsConfiguration
    /// The catalog cache (`CACHE_*`).
    public var cache: CatalogCacheConfiguration
    /// Inventory strategy and idempotency (`INVENTORY_*`, `IDEMPOTENCY_*`, `ORDERS_KEY_PREFIX`).
    public var orders: OrdersConfiguration
    /// Scheduled jobs (`JOBS_*`).
    public var jobs: JobsConfiguration
    /// Notifications (`NOTIFICATIONS_*`).
    public var notifications: NotificationsConfiguration
    /// The queue, its consumers and the outbox relay (`QUEUE_*`, `OUTBOX_*`).
    public var queue: QueueConfiguration
    /// The exchange-rate provider (`RATES_*`).
    public var rates: RatesConfiguration
    /// The payment provider and its webhooks (`PAYMENTS_*`, `PAYMENT_WEBHOOK_*`).
    public var payments: PaymentsConfiguration

    /// The local defaults: PostgreSQL and Redis on loopback as `scripts/services.sh` starts them.
    public init() {
        self.httpHost = "127.0.0.1"
        self.httpPort = 8080
        // swift-format-ignore: NeverUseForceTry
        self.database = try! DatabaseURL(Self.defaultDatabaseURL)
        // swift-format-ignore: NeverUseForceTry
        self.redis = try! RedisConfiguration(url: Self.defaultRedisURL)
        self.instanceID = Self.defaultInstanceID()
        self.logLevel = .info
        self.logFormat = .text
        self.databaseMaxConnections = 10
        self.migrateOnStart = true
        self.databaseStartupTimeout = .seconds(15)
        self.databaseRequestWait = .milliseconds(2000)
        self.databaseIdleTransactionTimeout = .seconds(60)
        self.healthTimeout = .milliseconds(1000)
        self.dashboardWriteInterval = .seconds(10)
        self.accounts = AccountsConfiguration()
        self.cache = CatalogCacheConfiguration()
        self.orders = OrdersConfiguration()
        self.jobs = JobsConfiguration()
        self.notifications = NotificationsConfiguration()
        self.queue = QueueConfiguration()
        self.rates = RatesConfiguration()
        self.payments = PaymentsConfiguration()
    }

    /// The default `DATABASE_URL`.
    public static let defaultDatabaseURL = "postgres://shop:shop@127.0.0.1:5432/shop"
    /// The default `REDIS_URL`.
    public static let defaultRedisURL = "redis://127.0.0.1:6379/0"
}

/// A configuration value that cannot be used; its description is one line naming the key.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// The environment variable that holds the key (`HTTP_PORT`).
    public let variable: String
    /// What is wrong, quoting the offending value unless it is a secret.
    public let problem: String

    /// Creates an error for the key whose environment variable is `variable`.
    /// - Parameters:
    ///   - variable: The environment variable name of the key.
    ///   - problem: What is wrong with its value.
    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "\(self.variable): \(self.problem)" }
}

/// How the service writes its log lines (`LOG_FORMAT`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// One human-readable line per entry (swift-log's stream handler).
    case text
    /// One JSON object per line (``JSONLogHandler``).
    case json
}
