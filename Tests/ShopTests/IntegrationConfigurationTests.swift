import Configuration
import Shop
import Testing

/// The queue, rates and payments keys.
@Suite("Queue, rates and payments configuration")
struct IntegrationConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults and values from the environment")
    func values() throws {
        let defaults = try self.load([:])
        #expect(defaults.queue == QueueConfiguration() && defaults.rates == RatesConfiguration())
        #expect(defaults.payments == PaymentsConfiguration())
        #expect(defaults.payments.callbackURL == nil)
        #expect(defaults.queue.visibilityTimeout == .seconds(30) && defaults.rates.maxAttempts == 3)
        let set = try self.load([
            "QUEUE_CONCURRENCY": "2", "QUEUE_VISIBILITY_TIMEOUT_MS": "1500", "OUTBOX_RELAY_ENABLED": "false",
            "RATES_PROVIDER_URL": "https://rates.example/", "RATES_BREAKER_OPEN_SECONDS": "3",
            "PAYMENTS_CALLBACK_URL": "https://shop.example/api/v1/webhooks/payments",
            "PAYMENT_WEBHOOK_SECRET": "a-much-longer-secret-value",
        ])
        #expect(set.queue.concurrency == 2 && set.queue.visibilityTimeout == .milliseconds(1500))
        #expect(!set.queue.relayEnabled)
        #expect(set.rates.providerURL == "https://rates.example" && set.rates.breakerOpenDuration == .seconds(3))
        #expect(set.payments.callbackURL == "https://shop.example/api/v1/webhooks/payments")
        #expect(set.payments.webhookSecret == "a-much-longer-secret-value")
    }

    @Test(
        "a bad value is one line naming the key, without quoting secrets",
        arguments: [
            ("QUEUE_CONCURRENCY", "0", #"QUEUE_CONCURRENCY: "0" is not an integer from 1 to 1000"#),
            ("QUEUE_MAX_ATTEMPTS", "many", #"QUEUE_MAX_ATTEMPTS: "many" is not an integer from 1 to 100"#),
            ("OUTBOX_RELAY_ENABLED", "sure", #"OUTBOX_RELAY_ENABLED: "sure" is not true or false"#),
            ("RATES_PROVIDER_URL", "ftp://x", #"RATES_PROVIDER_URL: "ftp://x" is not an http:// or https:// URL"#),
            ("RATES_MAX_ATTEMPTS", "11", #"RATES_MAX_ATTEMPTS: "11" is not an integer from 1 to 10"#),
            (
                "PAYMENTS_PROVIDER_URL", "http://",
                #"PAYMENTS_PROVIDER_URL: "http://" is not an http:// or https:// URL with a host"#
            ),
            (
                "PAYMENT_WEBHOOK_SECRET", "short",
                "PAYMENT_WEBHOOK_SECRET: must have at least 16 characters (value not shown)"
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("every key is a key of the service, in operations.md and in the README")
    func documented() throws {
        let operations = try repositoryFile("docs/operations.md")
        let readme = try repositoryFile("README.md")
        for key in ShopConfiguration.Key.queue + ShopConfiguration.Key.rates + ShopConfiguration.Key.payments {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
        #expect(ShopConfiguration.Key.paymentWebhookSecret.isSecret)
    }
}
