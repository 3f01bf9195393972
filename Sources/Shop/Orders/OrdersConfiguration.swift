public import Configuration

/// Inventory and order tunables (`INVENTORY_*`, `IDEMPOTENCY_*`).
///
/// Every field is one documented key (`docs/operations.md`); ``ShopConfiguration/init(reader:)`` reads them
/// through ``read(from:)``.
public struct OrdersConfiguration: Sendable, Equatable {
    /// How stock is taken (`INVENTORY_STRATEGY`: `conditional-update` (default), `select-for-update`,
    /// `redis-counter`, `lock`). `docs/inventory.md` compares them.
    public var strategy: StockStrategyKind
    /// Lease of a product lock under the `lock` strategy (`INVENTORY_LOCK_LEASE_MS`, default 5000).
    public var lockLease: Duration
    /// How long an order waits for a product lock under the `lock` strategy (`INVENTORY_LOCK_WAIT_MS`,
    /// default 10000).
    public var lockWait: Duration
    /// How long an `Idempotency-Key` outcome is kept and replayed (`IDEMPOTENCY_RETENTION_SECONDS`, default
    /// 86400 = 24 h).
    public var idempotencyRetention: Duration
    /// How long a claim on a key survives an instance that died mid-request (`IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS`,
    /// default 60; keep it above the slowest order).
    public var idempotencyClaimTimeout: Duration
    /// Prefix of the Redis keys of orders: idempotency records, stock counters, stock locks
    /// (`ORDERS_KEY_PREFIX`, default `shop:orders:`).
    public var keyPrefix: String

    /// The defaults.
    public init() {
        self.strategy = .conditionalUpdate
        self.lockLease = .milliseconds(5000)
        self.lockWait = .milliseconds(10_000)
        self.idempotencyRetention = .seconds(86_400)
        self.idempotencyClaimTimeout = .seconds(60)
        self.keyPrefix = "shop:orders:"
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.inventoryStrategy) {
            guard let strategy = StockStrategyKind(rawValue: value) else {
                let choices = StockStrategyKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(
                    variable: Key.inventoryStrategy.variable,
                    problem: "\(ShopConfiguration.quoted(value)) is not a strategy (\(choices))"
                )
            }
            self.strategy = strategy
        }
        if let value = read(.inventoryLockLeaseMs) {
            self.lockLease = .milliseconds(
                try ShopConfiguration.integer(value, in: 10...600_000, key: .inventoryLockLeaseMs)
            )
        }
        if let value = read(.inventoryLockWaitMs) {
            self.lockWait = .milliseconds(
                try ShopConfiguration.integer(value, in: 0...600_000, key: .inventoryLockWaitMs)
            )
        }
        if let value = read(.idempotencyRetentionSeconds) {
            self.idempotencyRetention = .seconds(
                try ShopConfiguration.integer(value, in: 1...2_592_000, key: .idempotencyRetentionSeconds)
            )
        }
        if let value = read(.idempotencyClaimTimeoutSeconds) {
            self.idempotencyClaimTimeout = .seconds(
                try ShopConfiguration.integer(value, in: 1...3600, key: .idempotencyClaimTimeoutSeconds)
            )
        }
        if let value = read(.ordersKeyPrefix) {
            self.keyPrefix = try ShopConfiguration.keyPrefix(value, key: .ordersKeyPrefix)
        }
    }
}

extension ShopConfiguration.Key {
    /// `INVENTORY_STRATEGY`: `conditional-update`, `select-for-update`, `redis-counter` or `lock`.
    public static let inventoryStrategy = Self("inventory.strategy", "INVENTORY_STRATEGY", "--inventory-strategy")
    /// `INVENTORY_LOCK_LEASE_MS`: 10–600000. Default `5000`.
    public static let inventoryLockLeaseMs = Self(
        "inventory.lockLeaseMs",
        "INVENTORY_LOCK_LEASE_MS",
        "--inventory-lock-lease-ms"
    )
    /// `INVENTORY_LOCK_WAIT_MS`: 0–600000. Default `10000`.
    public static let inventoryLockWaitMs = Self(
        "inventory.lockWaitMs",
        "INVENTORY_LOCK_WAIT_MS",
        "--inventory-lock-wait-ms"
    )
    /// `IDEMPOTENCY_RETENTION_SECONDS`: 1–2592000. Default `86400`.
    public static let idempotencyRetentionSeconds = Self(
        "idempotency.retentionSeconds",
        "IDEMPOTENCY_RETENTION_SECONDS",
        "--idempotency-retention-seconds"
    )
    /// `IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS`: 1–3600. Default `60`.
    public static let idempotencyClaimTimeoutSeconds = Self(
        "idempotency.claimTimeoutSeconds",
        "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS",
        "--idempotency-claim-timeout-seconds"
    )
    /// `ORDERS_KEY_PREFIX`: 0–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:orders:`.
    public static let ordersKeyPrefix = Self("orders.keyPrefix", "ORDERS_KEY_PREFIX", "--orders-key-prefix")

    /// The orders keys, in the order `docs/operations.md` lists them.
    public static let orders: [Self] = [
        .inventoryStrategy, .inventoryLockLeaseMs, .inventoryLockWaitMs, .idempotencyRetentionSeconds,
        .idempotencyClaimTimeoutSeconds, .ordersKeyPrefix,
    ]
}
