import Configuration
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Catalog cache configuration")
struct CatalogCacheConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults")
    func defaults() throws {
        let cache = try self.load([:]).cache
        #expect(cache == CatalogCacheConfiguration())
        #expect(cache.enabled)
        #expect(cache.keyPrefix == "shop:cache:")
        #expect(cache.productTTL == .seconds(300))
        #expect(cache.listTTL == .seconds(60))
        #expect(cache.negativeTTL == .seconds(10))
        #expect(cache.staleWhileRevalidate == .seconds(30))
        #expect(cache.ttlJitterPercent == 10)
        #expect(cache.redisTimeout == .milliseconds(100))
        #expect(cache.stampedeWait == .milliseconds(1000))
        #expect(cache.breakerFailures == 5)
        #expect(cache.breakerCooldown == .milliseconds(2000))
    }

    @Test("every CACHE_ key is read from its environment variable")
    func environment() throws {
        let cache = try self.load([
            "CACHE_ENABLED": "false",
            "CACHE_KEY_PREFIX": "app-2:cache:",
            "CACHE_TTL_SECONDS": "120",
            "CACHE_LIST_TTL_SECONDS": "15",
            "CACHE_NEGATIVE_TTL_SECONDS": "0",
            "CACHE_STALE_SECONDS": "5",
            "CACHE_TTL_JITTER_PERCENT": "25",
            "CACHE_REDIS_TIMEOUT_MS": "40",
            "CACHE_STAMPEDE_WAIT_MS": "250",
            "CACHE_BREAKER_FAILURES": "9",
            "CACHE_BREAKER_COOLDOWN_MS": "1500",
        ]).cache
        #expect(!cache.enabled)
        #expect(cache.keyPrefix == "app-2:cache:")
        #expect(cache.productTTL == .seconds(120))
        #expect(cache.listTTL == .seconds(15))
        #expect(cache.negativeTTL == .zero)
        #expect(cache.staleWhileRevalidate == .seconds(5))
        #expect(cache.ttlJitterPercent == 25)
        #expect(cache.redisTimeout == .milliseconds(40))
        #expect(cache.stampedeWait == .milliseconds(250))
        #expect(cache.breakerFailures == 9)
        #expect(cache.breakerCooldown == .milliseconds(1500))
    }

    @Test(
        "a bad value is one line naming the key",
        arguments: [
            ("CACHE_ENABLED", "maybe", #"CACHE_ENABLED: "maybe" is not true or false"#),
            (
                "CACHE_KEY_PREFIX", "a{b}",
                #"CACHE_KEY_PREFIX: "a{b}" is not a key prefix (0-64 characters of A-Z a-z 0-9 : . _ -)"#
            ),
            ("CACHE_TTL_SECONDS", "0", #"CACHE_TTL_SECONDS: "0" is not an integer from 1 to 86400"#),
            ("CACHE_LIST_TTL_SECONDS", "1d", #"CACHE_LIST_TTL_SECONDS: "1d" is not an integer from 1 to 86400"#),
            ("CACHE_NEGATIVE_TTL_SECONDS", "-1", #"CACHE_NEGATIVE_TTL_SECONDS: "-1" is not an integer from 0 to 3600"#),
            ("CACHE_STALE_SECONDS", "x", #"CACHE_STALE_SECONDS: "x" is not an integer from 0 to 86400"#),
            ("CACHE_TTL_JITTER_PERCENT", "51", #"CACHE_TTL_JITTER_PERCENT: "51" is not an integer from 0 to 50"#),
            ("CACHE_REDIS_TIMEOUT_MS", "0", #"CACHE_REDIS_TIMEOUT_MS: "0" is not an integer from 1 to 10000"#),
            ("CACHE_STAMPEDE_WAIT_MS", "60001", #"CACHE_STAMPEDE_WAIT_MS: "60001" is not an integer from 0 to 60000"#),
            ("CACHE_BREAKER_FAILURES", "0", #"CACHE_BREAKER_FAILURES: "0" is not an integer from 1 to 1000"#),
            (
                "CACHE_BREAKER_COOLDOWN_MS", "soon",
                #"CACHE_BREAKER_COOLDOWN_MS: "soon" is not an integer from 0 to 600000"#
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("every CACHE_ key is a key of the service, in operations.md and in the README")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let operations = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for key in ShopConfiguration.Key.cache {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
    }
}
