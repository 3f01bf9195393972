import Configuration
import Shop
import Testing

/// Bound to a non-loopback address, the service refuses its local-only defaults (docs/security.md, "Refusing
/// to start exposed with local defaults").
@Suite("Exposure: no local-only defaults off loopback")
struct ExposureConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    static let secret = "a-deployment-secret-of-its-own"

    @Test(
        "a non-loopback bind with the public webhook secret is one line naming PAYMENT_WEBHOOK_SECRET",
        arguments: ["0.0.0.0", "::", "10.0.0.5", "shop.example.com", "127.0.0.1.example.com", "128.0.0.1"]
    )
    func defaultSecretRefused(host: String) throws {
        for environment in [
            ["HTTP_HOST": host, "SESSION_COOKIE_SECURE": "true"],
            // Spelling the default out is the same as leaving it unset.
            [
                "HTTP_HOST": host, "SESSION_COOKIE_SECURE": "true",
                "PAYMENT_WEBHOOK_SECRET": PaymentsConfiguration.defaultWebhookSecret,
            ],
        ] {
            let error = #expect(throws: ConfigurationError.self) { try self.load(environment) }
            #expect(error?.variable == "PAYMENT_WEBHOOK_SECRET")
            #expect(
                error?.description
                    == "PAYMENT_WEBHOOK_SECRET: the public local-only default must not be used when HTTP_HOST (\"\(host)\") is not a loopback address; set a secret of your own"
            )
            #expect(error?.description.contains("\n") == false)
        }
        // Loopback binds keep the defaults (make run, the tests).
        for loopback in ["127.0.0.1", "127.10.0.3", "localhost", "LOCALHOST", "::1"] {
            let configuration = try self.load(["HTTP_HOST": loopback])
            #expect(configuration.payments.webhookSecret == PaymentsConfiguration.defaultWebhookSecret)
            #expect(!configuration.accounts.sessionCookieSecure)
        }
    }

    @Test("a non-loopback bind without Secure cookies is one line naming SESSION_COOKIE_SECURE")
    func insecureCookieRefused() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try self.load(["HTTP_HOST": "0.0.0.0", "PAYMENT_WEBHOOK_SECRET": Self.secret])
        }
        #expect(
            error?.description
                == #"SESSION_COOKIE_SECURE: must be true when HTTP_HOST ("0.0.0.0") is not a loopback address (serve HTTPS in front of the service)"#
        )
        #expect(error?.description.contains(Self.secret) == false)
        let explicit = #expect(throws: ConfigurationError.self) {
            try self.load([
                "HTTP_HOST": "0.0.0.0", "PAYMENT_WEBHOOK_SECRET": Self.secret, "SESSION_COOKIE_SECURE": "false",
            ])
        }
        #expect(explicit?.variable == "SESSION_COOKIE_SECURE")
        // Its own secret, Secure cookies and a callback URL: it starts.
        let configuration = try self.load([
            "HTTP_HOST": "0.0.0.0", "PAYMENT_WEBHOOK_SECRET": Self.secret, "SESSION_COOKIE_SECURE": "true",
            "PAYMENTS_CALLBACK_URL": Self.callback,
        ])
        #expect(configuration.accounts.sessionCookieName == "__Host-shop_session")
    }

    static let callback = "https://shop.example.com/api/v1/webhooks/payments"

    @Test(
        "a non-loopback bind without PAYMENTS_CALLBACK_URL is one line naming it",
        arguments: ["0.0.0.0", "::", "10.0.0.5", "shop.example.com"]
    )
    func callbackURLRequired(host: String) throws {
        // Without it, a remote caller's `Host: localhost` would make the provider post to this machine's loopback.
        let error = #expect(throws: ConfigurationError.self) {
            try self.load(["HTTP_HOST": host, "PAYMENT_WEBHOOK_SECRET": Self.secret, "SESSION_COOKIE_SECURE": "true"])
        }
        #expect(error?.variable == "PAYMENTS_CALLBACK_URL")
        #expect(
            error?.description
                == "PAYMENTS_CALLBACK_URL: must be set when HTTP_HOST (\"\(host)\") is not a loopback address (the default callback is this instance on loopback, chosen by a Host header a remote caller sets)"
        )
        #expect(error?.description.contains("\n") == false)
        let configured = try self.load([
            "HTTP_HOST": host, "PAYMENT_WEBHOOK_SECRET": Self.secret, "SESSION_COOKIE_SECURE": "true",
            "PAYMENTS_CALLBACK_URL": Self.callback,
        ])
        #expect(configured.payments.callbackURL == Self.callback)
        // Loopback binds keep the default (this instance, on loopback).
        #expect(try self.load(["HTTP_HOST": "127.0.0.1"]).payments.callbackURL == nil)
    }

    @Test("shop serve bound to 0.0.0.0 with the defaults stops at start with one line naming the key")
    func serveRefuses() async throws {
        let port = try await closedPort()
        let outcome = try await ExecutableTests.run(
            ["serve", "--http-host", "0.0.0.0", "--http-port", "\(port)"],
            environment: [
                "PAYMENT_WEBHOOK_SECRET": PaymentsConfiguration.defaultWebhookSecret,
                "SESSION_COOKIE_SECURE": "false",
                // Should it start anyway, it gives up at once instead of serving.
                "DATABASE_URL": "postgres://shop:shop@127.0.0.1:1/shop", "DATABASE_STARTUP_TIMEOUT_MS": "500",
                "LOG_LEVEL": "critical",
            ]
        )
        #expect(outcome.status != 0)
        #expect(
            outcome.standardError
                == "error: PAYMENT_WEBHOOK_SECRET: the public local-only default must not be used when HTTP_HOST (\"0.0.0.0\") is not a loopback address; set a secret of your own\n"
        )
    }
}
