import Configuration
import Logging
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Configuration")
struct ConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults are the local servers")
    func defaults() throws {
        let configuration = try self.load([:])
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.httpPort == 8080)
        #expect(configuration.database == (try DatabaseURL("postgres://shop:shop@127.0.0.1:5432/shop")))
        #expect(configuration.redis.host == "127.0.0.1")
        #expect(configuration.redis.port == 6379)
        #expect(configuration.redis.database == 0)
        #expect(configuration.logLevel == .info)
        #expect(configuration.migrateOnStart)
        #expect(!configuration.instanceID.isEmpty)
    }

    @Test("every key is read from its environment variable")
    func environment() throws {
        let configuration = try self.load([
            "HTTP_HOST": "0.0.0.0",
            "HTTP_PORT": "8081",
            "DATABASE_URL": "postgresql://app:p%40ss@db.local:6543/appdb?sslmode=require",
            "DATABASE_MAX_CONNECTIONS": "3",
            "DATABASE_MIGRATE_ON_START": "false",
            "DATABASE_STARTUP_TIMEOUT_MS": "2500",
            "REDIS_URL": "redis://:secret@cache.local:6380/2",
            "INSTANCE_ID": "shop-2",
            "LOG_LEVEL": "DEBUG",
            "HEALTH_TIMEOUT_MS": "250",
            // Required with a non-loopback HTTP_HOST (ExposureConfigurationTests).
            "PAYMENT_WEBHOOK_SECRET": "a-deployment-secret-of-its-own",
            "SESSION_COOKIE_SECURE": "true",
            "PAYMENTS_CALLBACK_URL": "https://shop.example.com/api/v1/webhooks/payments",
        ])
        #expect(configuration.httpHost == "0.0.0.0")
        #expect(configuration.httpPort == 8081)
        #expect(configuration.database.host == "db.local")
        #expect(configuration.database.port == 6543)
        #expect(configuration.database.user == "app")
        #expect(configuration.database.password == "p@ss")
        #expect(configuration.database.database == "appdb")
        #expect(configuration.database.tls == .require)
        #expect(configuration.databaseMaxConnections == 3)
        #expect(!configuration.migrateOnStart)
        #expect(configuration.databaseStartupTimeout == .milliseconds(2500))
        #expect(configuration.redis.password == "secret")
        #expect(configuration.redis.port == 6380)
        #expect(configuration.redis.database == 2)
        #expect(configuration.instanceID == "shop-2")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.healthTimeout == .milliseconds(250))
        // Passwords never appear in what is logged.
        #expect(!configuration.redactedDescription.contains("p@ss"))
        #expect(!configuration.redactedDescription.contains("secret"))
        #expect(configuration.redactedDescription.contains("postgres://app:***@db.local:6543/appdb"))
        #expect(configuration.redactedDescription.contains("redis://:***@cache.local:6380/2"))
    }

    @Test(
        "a bad value is one clear error naming the key",
        arguments: [
            ("HTTP_PORT", "80a", #"HTTP_PORT: "80a" is not a port number (1-65535)"#),
            ("HTTP_PORT", "0", #"HTTP_PORT: "0" is not a port number (1-65535)"#),
            ("HTTP_PORT", "65536", #"HTTP_PORT: "65536" is not a port number (1-65535)"#),
            ("HTTP_HOST", "bad host", #"HTTP_HOST: "bad host" is not a host name or IP address"#),
            ("DATABASE_URL", "mysql://a:b@c/d", #"DATABASE_URL: must start with postgres:// (got "mysql"://)"#),
            ("DATABASE_URL", "postgres://u:pw@h:5x/d", #"DATABASE_URL: port "5x" is not a port number (1-65535)"#),
            (
                "DATABASE_URL", "postgres://u:pw@h:5432",
                "DATABASE_URL: must name one database (postgres://user:password@host/db)"
            ),
            ("DATABASE_URL", "nonsense", "DATABASE_URL: is not a URL (expected scheme://host...)"),
            (
                "DATABASE_URL", "postgres://u:pw@h/d?sslmode=maybe",
                #"DATABASE_URL: sslmode "maybe" is not disable, prefer or require"#
            ),
            ("DATABASE_MAX_CONNECTIONS", "0", #"DATABASE_MAX_CONNECTIONS: "0" is not an integer from 1 to 1000"#),
            ("DATABASE_MIGRATE_ON_START", "sometimes", #"DATABASE_MIGRATE_ON_START: "sometimes" is not true or false"#),
            (
                "DATABASE_STARTUP_TIMEOUT_MS", "forever",
                #"DATABASE_STARTUP_TIMEOUT_MS: "forever" is not an integer from 1 to 600000"#
            ),
            (
                "REDIS_URL", "http://localhost",
                #"REDIS_URL: must start with redis://, rediss://, redis+cluster://, redis+sentinel:// or their rediss+ forms (got "http"://)"#
            ),
            ("REDIS_URL", "redis://:pw@localhost:6379/x", #"REDIS_URL: database "x" is not a database number"#),
            ("INSTANCE_ID", "a b", #"INSTANCE_ID: "a b" is not an instance id (1-64 characters of A-Z a-z 0-9 . _ -)"#),
            (
                "LOG_LEVEL", "loud",
                #"LOG_LEVEL: "loud" is not a log level (trace, debug, info, notice, warning, error, critical)"#
            ),
            ("HEALTH_TIMEOUT_MS", "-1", #"HEALTH_TIMEOUT_MS: "-1" is not an integer from 1 to 60000"#),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
        #expect(error?.description.contains("\n") == false)
        #expect(error?.description.contains("pw") == false)
    }

    @Test("flags win over the environment")
    func flagsFirst() throws {
        let flags = InMemoryProvider(values: ["http.port": "9090", "instance.id": "from-flag"])
        let environment = EnvironmentVariablesProvider(environmentVariables: [
            "HTTP_PORT": "7070", "INSTANCE_ID": "env",
        ])
        let configuration = try ShopConfiguration(reader: ConfigReader(providers: [flags, environment]))
        #expect(configuration.httpPort == 9090)
        #expect(configuration.instanceID == "from-flag")
    }
}
