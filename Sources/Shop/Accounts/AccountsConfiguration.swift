public import Configuration

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sessions, sign-in limits and password hashing: the tunables of the accounts module.
///
/// Every field is one documented key (`docs/operations.md`); ``ShopConfiguration/init(reader:)`` reads them
/// through ``read(from:)``.
public struct AccountsConfiguration: Sendable, Equatable {
    /// Sliding idle timeout of a session (`SESSION_IDLE_TIMEOUT_SECONDS`, default 30 minutes).
    public var sessionIdleTimeout: Duration
    /// Absolute lifetime of a session (`SESSION_ABSOLUTE_LIFETIME_SECONDS`, default 12 hours).
    public var sessionAbsoluteLifetime: Duration
    /// Least time between two "last seen" writes of one session (`SESSION_TOUCH_INTERVAL_SECONDS`, default 60 s).
    public var sessionTouchInterval: Duration
    /// Whether the session cookie is `Secure` and named `__Host-shop_session` (`SESSION_COOKIE_SECURE`).
    public var sessionCookieSecure: Bool
    /// Prefix of every Redis key of sessions and sign-in limits (`SESSION_KEY_PREFIX`, default `shop:auth:`).
    public var sessionKeyPrefix: String
    /// Length of a sign-in rate-limit window (`LOGIN_RATE_LIMIT_WINDOW_SECONDS`, default 15 minutes).
    public var loginRateLimitWindow: Duration
    /// Sign-in attempts allowed per account and window (`LOGIN_MAX_ATTEMPTS_PER_ACCOUNT`, default 10).
    public var loginMaxAttemptsPerAccount: Int
    /// Sign-in and registration attempts allowed per client address and window
    /// (`LOGIN_MAX_ATTEMPTS_PER_ADDRESS`, default 100).
    public var loginMaxAttemptsPerAddress: Int
    /// Whether the client address is the last `X-Forwarded-For` entry instead of the socket's peer
    /// (`TRUST_PROXY`; only behind exactly one reverse proxy that appends to that header).
    public var trustProxy: Bool
    /// bcrypt cost of new password hashes (`PASSWORD_HASH_COST`, 4–16, default 12).
    public var passwordHashCost: Int
    /// Origins allowed to send state-changing requests besides the service's own (`CSRF_TRUSTED_ORIGINS`).
    public var trustedOrigins: [String]

    /// The defaults.
    public init() {
        self.sessionIdleTimeout = .seconds(30 * 60)
        self.sessionAbsoluteLifetime = .seconds(12 * 60 * 60)
        self.sessionTouchInterval = .seconds(60)
        self.sessionCookieSecure = false
        self.sessionKeyPrefix = "shop:auth:"
        self.loginRateLimitWindow = .seconds(15 * 60)
        self.loginMaxAttemptsPerAccount = 10
        self.loginMaxAttemptsPerAddress = 100
        self.trustProxy = false
        self.passwordHashCost = 12
        self.trustedOrigins = []
    }

    /// The session cookie's name: `__Host-shop_session` when it is `Secure` (browsers then bind it to this
    /// host, `Path=/`, HTTPS), `shop_session` otherwise.
    public var sessionCookieName: String {
        self.sessionCookieSecure ? "__Host-shop_session" : "shop_session"
    }

    /// The Redis pub/sub channel on which ended sessions are announced (`<SESSION_KEY_PREFIX>sessions-revoked`),
    /// so every instance closes the notification streams bound to them.
    public var sessionRevocationChannel: String {
        self.sessionKeyPrefix + "sessions-revoked"
    }

    /// Reads the accounts keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.sessionIdleTimeoutSeconds) {
            self.sessionIdleTimeout = .seconds(
                try ShopConfiguration.integer(value, in: 1...604_800, key: .sessionIdleTimeoutSeconds)
            )
        }
        if let value = read(.sessionAbsoluteLifetimeSeconds) {
            self.sessionAbsoluteLifetime = .seconds(
                try ShopConfiguration.integer(value, in: 1...31_536_000, key: .sessionAbsoluteLifetimeSeconds)
            )
        }
        if let value = read(.sessionTouchIntervalSeconds) {
            self.sessionTouchInterval = .seconds(
                try ShopConfiguration.integer(value, in: 0...3600, key: .sessionTouchIntervalSeconds)
            )
        }
        if let value = read(.sessionCookieSecure) {
            self.sessionCookieSecure = try ShopConfiguration.bool(value, key: .sessionCookieSecure)
        }
        if let value = read(.sessionKeyPrefix) {
            self.sessionKeyPrefix = try ShopConfiguration.keyPrefix(value, key: .sessionKeyPrefix)
        }
        if let value = read(.loginRateLimitWindowSeconds) {
            self.loginRateLimitWindow = .seconds(
                try ShopConfiguration.integer(value, in: 1...86_400, key: .loginRateLimitWindowSeconds)
            )
        }
        if let value = read(.loginMaxAttemptsPerAccount) {
            self.loginMaxAttemptsPerAccount = try ShopConfiguration.integer(
                value,
                in: 1...100_000,
                key: .loginMaxAttemptsPerAccount
            )
        }
        if let value = read(.loginMaxAttemptsPerAddress) {
            self.loginMaxAttemptsPerAddress = try ShopConfiguration.integer(
                value,
                in: 1...1_000_000,
                key: .loginMaxAttemptsPerAddress
            )
        }
        if let value = read(.trustProxy) {
            self.trustProxy = try ShopConfiguration.bool(value, key: .trustProxy)
        }
        if let value = read(.passwordHashCost) {
            self.passwordHashCost = try ShopConfiguration.integer(value, in: 4...16, key: .passwordHashCost)
        }
        if let value = read(.csrfTrustedOrigins) {
            self.trustedOrigins = try Self.origins(value)
        }
        guard self.sessionTouchInterval < self.sessionIdleTimeout else {
            throw ConfigurationError(
                variable: Key.sessionTouchIntervalSeconds.variable,
                problem: "must be shorter than SESSION_IDLE_TIMEOUT_SECONDS"
            )
        }
    }

    /// A comma-separated list of `http(s)://host[:port]` origins.
    static func origins(_ value: String) throws -> [String] {
        var origins: [String] = []
        for item in value.split(separator: ",") {
            let origin = item.trimmingCharacters(in: .whitespaces)
            guard !origin.isEmpty else { continue }
            let lowered = origin.lowercased()
            let scheme = lowered.hasPrefix("https://") ? "https://" : lowered.hasPrefix("http://") ? "http://" : nil
            let rest = scheme.map { lowered.dropFirst($0.count) } ?? ""
            guard scheme != nil, !rest.isEmpty, !rest.contains("/"),
                rest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) })
            else {
                throw ConfigurationError(
                    variable: ShopConfiguration.Key.csrfTrustedOrigins.variable,
                    problem: "\(ShopConfiguration.quoted(origin)) is not an origin (http(s)://host[:port])"
                )
            }
            origins.append(lowered)
        }
        return origins
    }
}

extension ShopConfiguration.Key {
    /// `SESSION_IDLE_TIMEOUT_SECONDS`: 1–604800. Default `1800`.
    public static let sessionIdleTimeoutSeconds = Self(
        "session.idleTimeoutSeconds",
        "SESSION_IDLE_TIMEOUT_SECONDS",
        "--session-idle-timeout-seconds"
    )
    /// `SESSION_ABSOLUTE_LIFETIME_SECONDS`: 1–31536000. Default `43200`.
    public static let sessionAbsoluteLifetimeSeconds = Self(
        "session.absoluteLifetimeSeconds",
        "SESSION_ABSOLUTE_LIFETIME_SECONDS",
        "--session-absolute-lifetime-seconds"
    )
    /// `SESSION_TOUCH_INTERVAL_SECONDS`: 0–3600 and shorter than the idle timeout. Default `60`.
    public static let sessionTouchIntervalSeconds = Self(
        "session.touchIntervalSeconds",
        "SESSION_TOUCH_INTERVAL_SECONDS",
        "--session-touch-interval-seconds"
    )
    /// `SESSION_COOKIE_SECURE`: `true` or `false`. Default `false`.
    public static let sessionCookieSecure = Self(
        "session.cookieSecure",
        "SESSION_COOKIE_SECURE",
        "--session-cookie-secure"
    )
    /// `SESSION_KEY_PREFIX`: 0–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:auth:`.
    public static let sessionKeyPrefix = Self("session.keyPrefix", "SESSION_KEY_PREFIX", "--session-key-prefix")
    /// `LOGIN_RATE_LIMIT_WINDOW_SECONDS`: 1–86400. Default `900`.
    public static let loginRateLimitWindowSeconds = Self(
        "login.rateLimitWindowSeconds",
        "LOGIN_RATE_LIMIT_WINDOW_SECONDS",
        "--login-rate-limit-window-seconds"
    )
    /// `LOGIN_MAX_ATTEMPTS_PER_ACCOUNT`: 1–100000. Default `10`.
    public static let loginMaxAttemptsPerAccount = Self(
        "login.maxAttemptsPerAccount",
        "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT",
        "--login-max-attempts-per-account"
    )
    /// `LOGIN_MAX_ATTEMPTS_PER_ADDRESS`: 1–1000000. Default `100`.
    public static let loginMaxAttemptsPerAddress = Self(
        "login.maxAttemptsPerAddress",
        "LOGIN_MAX_ATTEMPTS_PER_ADDRESS",
        "--login-max-attempts-per-address"
    )
    /// `TRUST_PROXY`: `true` or `false`. Default `false`.
    public static let trustProxy = Self("trustProxy", "TRUST_PROXY", "--trust-proxy")
    /// `PASSWORD_HASH_COST`: 4–16. Default `12`.
    public static let passwordHashCost = Self("password.hashCost", "PASSWORD_HASH_COST", "--password-hash-cost")
    /// `CSRF_TRUSTED_ORIGINS`: comma-separated `http(s)://host[:port]`. Default empty.
    public static let csrfTrustedOrigins = Self(
        "csrf.trustedOrigins",
        "CSRF_TRUSTED_ORIGINS",
        "--csrf-trusted-origins"
    )

    /// The accounts keys, in the order `docs/operations.md` lists them.
    public static let accounts: [Self] = [
        .sessionIdleTimeoutSeconds, .sessionAbsoluteLifetimeSeconds, .sessionTouchIntervalSeconds,
        .sessionCookieSecure, .sessionKeyPrefix, .loginRateLimitWindowSeconds, .loginMaxAttemptsPerAccount,
        .loginMaxAttemptsPerAddress, .trustProxy, .passwordHashCost, .csrfTrustedOrigins,
    ]
}
