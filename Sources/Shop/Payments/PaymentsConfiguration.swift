public import Configuration

/// The payment provider and its webhooks (`PAYMENTS_*`, `PAYMENT_WEBHOOK_SECRET`).
public struct PaymentsConfiguration: Sendable, Equatable {
    /// The local-only default of `PAYMENT_WEBHOOK_SECRET` (the simulated provider uses the same one).
    public static let defaultWebhookSecret = "local-only-webhook-secret"

    /// Base URL of the payment provider's API (`PAYMENTS_PROVIDER_URL`, default `http://127.0.0.1:8090`).
    public var providerURL: String
    /// The URL the provider posts webhooks to (`PAYMENTS_CALLBACK_URL`). Unset (the default), it is the pay
    /// request's own `Host` with `/api/v1/webhooks/payments` when that host is loopback — right for local runs;
    /// reached any other way, paying needs it set.
    public var callbackURL: String?
    /// The shared secret of webhook signatures (`PAYMENT_WEBHOOK_SECRET`; never logged).
    public var webhookSecret: String
    /// How far a webhook's timestamp may be from now (`PAYMENT_WEBHOOK_TOLERANCE_SECONDS`, default 300).
    public var webhookTolerance: Duration
    /// How long one call to the provider may take (`PAYMENTS_TIMEOUT_MS`, default 2000).
    public var timeout: Duration

    /// The defaults.
    public init() {
        self.providerURL = "http://127.0.0.1:8090"
        self.callbackURL = nil
        self.webhookSecret = Self.defaultWebhookSecret
        self.webhookTolerance = .seconds(300)
        self.timeout = .milliseconds(2000)
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.paymentsProviderURL) {
            self.providerURL = try Self.httpURL(value, key: .paymentsProviderURL)
        }
        if let value = read(.paymentsCallbackURL) {
            self.callbackURL = try Self.httpURL(value, key: .paymentsCallbackURL)
        }
        if let value = read(.paymentWebhookSecret) {
            guard value.utf8.count >= 16 else {
                throw ConfigurationError(
                    variable: Key.paymentWebhookSecret.variable,
                    problem: "must have at least 16 characters (value not shown)"
                )
            }
            self.webhookSecret = value
        }
        if let value = read(.paymentWebhookToleranceSeconds) {
            self.webhookTolerance = .seconds(
                try ShopConfiguration.integer(value, in: 1...86_400, key: .paymentWebhookToleranceSeconds)
            )
        }
        if let value = read(.paymentsTimeoutMs) {
            self.timeout = .milliseconds(try ShopConfiguration.integer(value, in: 1...600_000, key: .paymentsTimeoutMs))
        }
    }

    /// An `http://` or `https://` URL with a host, without a trailing slash.
    static func httpURL(_ value: String, key: ShopConfiguration.Key) throws -> String {
        let lower = value.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            rest = value.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            rest = value.dropFirst(8)
        } else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(ShopConfiguration.quoted(value)) is not an http:// or https:// URL"
            )
        }
        guard let host = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first,
            !host.isEmpty, !value.contains(" "), !value.contains("@")
        else {
            throw ConfigurationError(
                variable: key.variable,
                problem: "\(ShopConfiguration.quoted(value)) is not an http:// or https:// URL with a host"
            )
        }
        return value.hasSuffix("/") ? String(value.dropLast()) : value
    }
}

extension ShopConfiguration.Key {
    /// `PAYMENTS_PROVIDER_URL`: an `http(s)://` URL. Default `http://127.0.0.1:8090`.
    public static let paymentsProviderURL = Self(
        "payments.providerURL",
        "PAYMENTS_PROVIDER_URL",
        "--payments-provider-url"
    )
    /// `PAYMENTS_CALLBACK_URL`: an `http(s)://` URL. Default: the pay request's host.
    public static let paymentsCallbackURL = Self(
        "payments.callbackURL",
        "PAYMENTS_CALLBACK_URL",
        "--payments-callback-url"
    )
    /// `PAYMENT_WEBHOOK_SECRET`: at least 16 characters; never logged.
    public static let paymentWebhookSecret = Self(
        "payment.webhookSecret",
        "PAYMENT_WEBHOOK_SECRET",
        "--payment-webhook-secret",
        isSecret: true
    )
    /// `PAYMENT_WEBHOOK_TOLERANCE_SECONDS`: 1–86400. Default `300`.
    public static let paymentWebhookToleranceSeconds = Self(
        "payment.webhookToleranceSeconds",
        "PAYMENT_WEBHOOK_TOLERANCE_SECONDS",
        "--payment-webhook-tolerance-seconds"
    )
    /// `PAYMENTS_TIMEOUT_MS`: 1–600000. Default `2000`.
    public static let paymentsTimeoutMs = Self("payments.timeoutMs", "PAYMENTS_TIMEOUT_MS", "--payments-timeout-ms")

    /// The payments keys, in the order `docs/operations.md` lists them.
    public static let payments: [Self] = [
        .paymentsProviderURL, .paymentsCallbackURL, .paymentWebhookSecret, .paymentWebhookToleranceSeconds,
        .paymentsTimeoutMs,
    ]
}
