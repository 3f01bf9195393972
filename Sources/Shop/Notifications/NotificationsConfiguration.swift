public import Configuration

/// Notifications (`NOTIFICATIONS_*`): the pub/sub channel, stream limits, the low-stock threshold.
public struct NotificationsConfiguration: Sendable, Equatable {
    /// The Redis channel instances announce notifications on (`NOTIFICATIONS_CHANNEL`, default
    /// `shop:notifications`). All instances of one deployment must share it.
    public var channel: String
    /// Events buffered per open stream for a slow client; past it the stream is closed and the client
    /// reconnects with `Last-Event-ID` (`NOTIFICATIONS_STREAM_BUFFER`, default 256).
    public var streamBuffer: Int
    /// Open streams one instance accepts; more answer 503 (`NOTIFICATIONS_MAX_STREAMS`, default 10000).
    public var maxStreams: Int
    /// Open streams one user may have on one instance; more answer 429 (`NOTIFICATIONS_MAX_STREAMS_PER_USER`,
    /// default 5).
    public var maxStreamsPerUser: Int
    /// A comment line is sent on idle streams this often, so dead clients are noticed
    /// (`NOTIFICATIONS_HEARTBEAT_SECONDS`, default 15).
    public var heartbeat: Duration
    /// Admins are told when an order leaves a product with this many units or fewer
    /// (`NOTIFICATIONS_LOW_STOCK_THRESHOLD`, default 5; 0 turns it off).
    public var lowStockThreshold: Int

    /// The defaults.
    public init() {
        self.channel = "shop:notifications"
        self.streamBuffer = 256
        self.maxStreams = 10_000
        self.maxStreamsPerUser = 5
        self.heartbeat = .seconds(15)
        self.lowStockThreshold = 5
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.notificationsChannel) {
            guard !value.isEmpty, ShopConfiguration.isValidPrefix(value) else {
                throw ConfigurationError(
                    variable: Key.notificationsChannel.variable,
                    problem:
                        "\(ShopConfiguration.quoted(value)) is not a channel name (1-64 characters of A-Z a-z 0-9 : . _ -)"
                )
            }
            self.channel = value
        }
        if let value = read(.notificationsStreamBuffer) {
            self.streamBuffer = try ShopConfiguration.integer(value, in: 1...100_000, key: .notificationsStreamBuffer)
        }
        if let value = read(.notificationsMaxStreams) {
            self.maxStreams = try ShopConfiguration.integer(value, in: 1...1_000_000, key: .notificationsMaxStreams)
        }
        if let value = read(.notificationsMaxStreamsPerUser) {
            self.maxStreamsPerUser = try ShopConfiguration.integer(
                value,
                in: 1...1000,
                key: .notificationsMaxStreamsPerUser
            )
        }
        if let value = read(.notificationsHeartbeatSeconds) {
            self.heartbeat = .seconds(
                try ShopConfiguration.integer(value, in: 1...3600, key: .notificationsHeartbeatSeconds)
            )
        }
        if let value = read(.notificationsLowStockThreshold) {
            self.lowStockThreshold = try ShopConfiguration.integer(
                value,
                in: 0...1_000_000,
                key: .notificationsLowStockThreshold
            )
        }
    }
}

extension ShopConfiguration.Key {
    /// `NOTIFICATIONS_CHANNEL`: 1–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:notifications`.
    public static let notificationsChannel = Self(
        "notifications.channel",
        "NOTIFICATIONS_CHANNEL",
        "--notifications-channel"
    )
    /// `NOTIFICATIONS_STREAM_BUFFER`: 1–100000. Default `256`.
    public static let notificationsStreamBuffer = Self(
        "notifications.streamBuffer",
        "NOTIFICATIONS_STREAM_BUFFER",
        "--notifications-stream-buffer"
    )
    /// `NOTIFICATIONS_MAX_STREAMS`: 1–1000000. Default `10000`.
    public static let notificationsMaxStreams = Self(
        "notifications.maxStreams",
        "NOTIFICATIONS_MAX_STREAMS",
        "--notifications-max-streams"
    )
    /// `NOTIFICATIONS_MAX_STREAMS_PER_USER`: 1–1000. Default `5`.
    public static let notificationsMaxStreamsPerUser = Self(
        "notifications.maxStreamsPerUser",
        "NOTIFICATIONS_MAX_STREAMS_PER_USER",
        "--notifications-max-streams-per-user"
    )
    /// `NOTIFICATIONS_HEARTBEAT_SECONDS`: 1–3600. Default `15`.
    public static let notificationsHeartbeatSeconds = Self(
        "notifications.heartbeatSeconds",
        "NOTIFICATIONS_HEARTBEAT_SECONDS",
        "--notifications-heartbeat-seconds"
    )
    /// `NOTIFICATIONS_LOW_STOCK_THRESHOLD`: 0–1000000. Default `5`.
    public static let notificationsLowStockThreshold = Self(
        "notifications.lowStockThreshold",
        "NOTIFICATIONS_LOW_STOCK_THRESHOLD",
        "--notifications-low-stock-threshold"
    )

    /// The notifications keys, in the order `docs/operations.md` lists them.
    public static let notifications: [Self] = [
        .notificationsChannel, .notificationsStreamBuffer, .notificationsMaxStreams, .notificationsMaxStreamsPerUser,
        .notificationsHeartbeatSeconds, .notificationsLowStockThreshold,
    ]
}
