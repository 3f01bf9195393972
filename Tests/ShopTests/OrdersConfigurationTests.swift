import Configuration
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Orders configuration")
struct OrdersConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults")
    func defaults() throws {
        let orders = try self.load([:]).orders
        #expect(orders == OrdersConfiguration())
        #expect(orders.strategy == .conditionalUpdate)
        #expect(orders.lockLease == .milliseconds(5000))
        #expect(orders.lockWait == .milliseconds(10_000))
        #expect(orders.idempotencyRetention == .seconds(86_400))
        #expect(orders.idempotencyClaimTimeout == .seconds(60))
        #expect(orders.keyPrefix == "shop:orders:")
    }

    @Test("every key is read from its environment variable")
    func environment() throws {
        let orders = try self.load([
            "INVENTORY_STRATEGY": "redis-counter",
            "INVENTORY_LOCK_LEASE_MS": "750",
            "INVENTORY_LOCK_WAIT_MS": "0",
            "IDEMPOTENCY_RETENTION_SECONDS": "3600",
            "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS": "30",
            "ORDERS_KEY_PREFIX": "app-2:orders:",
        ]).orders
        #expect(orders.strategy == .redisCounter)
        #expect(orders.lockLease == .milliseconds(750))
        #expect(orders.lockWait == .zero)
        #expect(orders.idempotencyRetention == .seconds(3600))
        #expect(orders.idempotencyClaimTimeout == .seconds(30))
        #expect(orders.keyPrefix == "app-2:orders:")
    }

    @Test("every strategy has a configuration name", arguments: StockStrategyKind.allCases)
    func strategyNames(strategy: StockStrategyKind) throws {
        #expect(try self.load(["INVENTORY_STRATEGY": strategy.rawValue]).orders.strategy == strategy)
    }

    @Test(
        "a bad value is one line naming the key",
        arguments: [
            (
                "INVENTORY_STRATEGY", "optimistic",
                #"INVENTORY_STRATEGY: "optimistic" is not a strategy (lock, redis-counter, select-for-update, conditional-update)"#
            ),
            ("INVENTORY_LOCK_LEASE_MS", "5", #"INVENTORY_LOCK_LEASE_MS: "5" is not an integer from 10 to 600000"#),
            ("INVENTORY_LOCK_WAIT_MS", "-1", #"INVENTORY_LOCK_WAIT_MS: "-1" is not an integer from 0 to 600000"#),
            (
                "IDEMPOTENCY_RETENTION_SECONDS", "0",
                #"IDEMPOTENCY_RETENTION_SECONDS: "0" is not an integer from 1 to 2592000"#
            ),
            (
                "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS", "1h",
                #"IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS: "1h" is not an integer from 1 to 3600"#
            ),
            (
                "ORDERS_KEY_PREFIX", "shop orders",
                #"ORDERS_KEY_PREFIX: "shop orders" is not a key prefix (0-64 characters of A-Z a-z 0-9 : . _ -)"#
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("every orders key is a key of the service, in operations.md and in the README")
    func documented() throws {
        let operations = try repositoryFile("docs/operations.md")
        let readme = try repositoryFile("README.md")
        for key in ShopConfiguration.Key.orders {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
    }
}
