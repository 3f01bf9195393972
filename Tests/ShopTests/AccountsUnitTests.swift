import Configuration
import Foundation
import Testing

@testable import Shop

/// A file of the repository, by its path from the root.
func repositoryFile(_ path: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
}

@Suite("Accounts: configuration and input rules (no servers)")
struct AccountsUnitTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults")
    func defaults() throws {
        let accounts = try self.load([:]).accounts
        #expect(accounts.sessionIdleTimeout == .seconds(1800))
        #expect(accounts.sessionAbsoluteLifetime == .seconds(43200))
        #expect(accounts.sessionTouchInterval == .seconds(60))
        #expect(!accounts.sessionCookieSecure)
        #expect(accounts.sessionCookieName == "shop_session")
        #expect(accounts.sessionKeyPrefix == "shop:auth:")
        #expect(accounts.loginRateLimitWindow == .seconds(900))
        #expect(accounts.loginMaxAttemptsPerAccount == 10)
        #expect(accounts.loginMaxAttemptsPerAddress == 100)
        #expect(!accounts.trustProxy)
        #expect(accounts.passwordHashCost == 12)
        #expect(accounts.trustedOrigins.isEmpty)
    }

    @Test("every accounts key is read from its environment variable")
    func environment() throws {
        let accounts = try self.load([
            "SESSION_IDLE_TIMEOUT_SECONDS": "600",
            "SESSION_ABSOLUTE_LIFETIME_SECONDS": "86400",
            "SESSION_TOUCH_INTERVAL_SECONDS": "0",
            "SESSION_COOKIE_SECURE": "true",
            "SESSION_KEY_PREFIX": "eu-1:auth:",
            "LOGIN_RATE_LIMIT_WINDOW_SECONDS": "60",
            "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": "5",
            "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "50",
            "TRUST_PROXY": "yes",
            "PASSWORD_HASH_COST": "10",
            "CSRF_TRUSTED_ORIGINS": "https://App.example.com, http://localhost:3000",
        ]).accounts
        #expect(accounts.sessionIdleTimeout == .seconds(600))
        #expect(accounts.sessionAbsoluteLifetime == .seconds(86400))
        #expect(accounts.sessionTouchInterval == .zero)
        #expect(accounts.sessionCookieSecure)
        #expect(accounts.sessionCookieName == "__Host-shop_session")
        #expect(accounts.sessionKeyPrefix == "eu-1:auth:")
        #expect(accounts.loginRateLimitWindow == .seconds(60))
        #expect(accounts.loginMaxAttemptsPerAccount == 5)
        #expect(accounts.loginMaxAttemptsPerAddress == 50)
        #expect(accounts.trustProxy)
        #expect(accounts.passwordHashCost == 10)
        #expect(accounts.trustedOrigins == ["https://app.example.com", "http://localhost:3000"])
    }

    @Test(
        "a bad accounts value is one clear error naming the key",
        arguments: [
            (
                "SESSION_IDLE_TIMEOUT_SECONDS", "0",
                #"SESSION_IDLE_TIMEOUT_SECONDS: "0" is not an integer from 1 to 604800"#
            ),
            (
                "SESSION_ABSOLUTE_LIFETIME_SECONDS", "1y",
                #"SESSION_ABSOLUTE_LIFETIME_SECONDS: "1y" is not an integer from 1 to 31536000"#
            ),
            (
                "SESSION_TOUCH_INTERVAL_SECONDS", "1800",
                "SESSION_TOUCH_INTERVAL_SECONDS: must be shorter than SESSION_IDLE_TIMEOUT_SECONDS"
            ),
            ("SESSION_COOKIE_SECURE", "maybe", #"SESSION_COOKIE_SECURE: "maybe" is not true or false"#),
            (
                "SESSION_KEY_PREFIX", "a{b}",
                #"SESSION_KEY_PREFIX: "a{b}" is not a key prefix (0-64 characters of A-Z a-z 0-9 : . _ -)"#
            ),
            (
                "LOGIN_RATE_LIMIT_WINDOW_SECONDS", "-5",
                #"LOGIN_RATE_LIMIT_WINDOW_SECONDS: "-5" is not an integer from 1 to 86400"#
            ),
            (
                "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "0",
                #"LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "0" is not an integer from 1 to 100000"#
            ),
            (
                "LOGIN_MAX_ATTEMPTS_PER_ADDRESS", "many",
                #"LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "many" is not an integer from 1 to 1000000"#
            ),
            ("TRUST_PROXY", "sure", #"TRUST_PROXY: "sure" is not true or false"#),
            ("PASSWORD_HASH_COST", "3", #"PASSWORD_HASH_COST: "3" is not an integer from 4 to 16"#),
            (
                "CSRF_TRUSTED_ORIGINS", "https://ok.example, ftp://x",
                #"CSRF_TRUSTED_ORIGINS: "ftp://x" is not an origin (http(s)://host[:port])"#
            ),
            (
                "CSRF_TRUSTED_ORIGINS", "https://example.com/path",
                #"CSRF_TRUSTED_ORIGINS: "https://example.com/path" is not an origin (http(s)://host[:port])"#
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("every accounts key is in Key.all, documented in operations.md and the README")
    func documented() throws {
        let operations = try repositoryFile("docs/operations.md")
        let readme = try repositoryFile("README.md")
        for key in ShopConfiguration.Key.accounts {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
    }

    @Test(
        "e-mail addresses",
        arguments: [
            ("ann@example.com", true), ("a.b+tag@sub.example.co", true), ("A@EXAMPLE.COM", true),
            ("x@y.z", true), ("ann@example", false), ("ann@@example.com", false), ("@example.com", false),
            ("ann@", false), (".ann@example.com", false), ("ann.@example.com", false), ("a..b@example.com", false),
            ("ann@-example.com", false), ("ann@example-.com", false), ("ann@exa_mple.com", false),
            ("an n@example.com", false), ("ann@example..com", false), ("\"ann\"@example.com", false),
            ("ann@exämple.com", false), ("ann@example.com ", false),
        ]
    )
    func emails(email: String, valid: Bool) {
        #expect((Credentials.emailProblem(email) == nil) == valid)
    }

    @Test("an e-mail address longer than 254 characters is refused")
    func longEmail() {
        let local = String(repeating: "a", count: 64)
        let domain = Array(repeating: String(repeating: "b", count: 60), count: 4).joined(separator: ".") + ".com"
        #expect(Credentials.emailProblem("\(local)@\(domain)") != nil)
        #expect(Credentials.emailProblem(String(repeating: "a", count: 65) + "@example.com") != nil)
    }

    @Test("password policy")
    func passwords() {
        func codes(_ password: String, email: String = "ann@example.com") -> [String] {
            Credentials.problems(email: email, password: password).map(\.code)
        }
        #expect(codes("0123456789") == [])
        #expect(codes("012345678") == ["TOO_SHORT"])
        #expect(codes(String(repeating: "é", count: 36)) == [])  // 72 bytes
        #expect(codes(String(repeating: "é", count: 37)) == ["TOO_LONG"])
        #expect(codes("line\nbreak pw") == ["INVALID_FORMAT"])
        #expect(codes("ANN@example.com") == ["INVALID_FORMAT"])
        #expect(Credentials.isPlausiblePassword("x"))
        #expect(!Credentials.isPlausiblePassword(""))
        #expect(!Credentials.isPlausiblePassword(String(repeating: "x", count: 73)))
    }

    @Test("rate-limit buckets: e-mail hashed and normalised, IPv6 by /64")
    func buckets() {
        let bucket = AccountService.accountBucket("Ann@Example.com ")
        #expect(bucket == AccountService.accountBucket("ann@example.com"))
        #expect(!bucket.contains("ann"))
        #expect(bucket.count == "login:account:".count + 32)
        #expect(AccountService.addressBucket("192.0.2.1") == "auth:address:192.0.2.1")
        #expect(
            AccountService.addressBucket("2001:db8:1:2:3:4:5:6")
                == AccountService.addressBucket("2001:db8:1:2:ffff::1")
        )
        #expect(AccountService.addressBucket("2001:db8:1:2::1") == "auth:address:20010db800010002::/64")
        #expect(AccountService.addressBucket("2001:db8:1:2::1") != AccountService.addressBucket("2001:db8:1:3::1"))
    }

    @Test("roles: admin includes user, not the other way round")
    func roles() {
        #expect(Role.admin.includes(.user))
        #expect(Role.admin.includes(.admin))
        #expect(Role.user.includes(.user))
        #expect(!Role.user.includes(.admin))
    }

    @Test("a password hash never shows in descriptions")
    func redactedHash() {
        let hash = PasswordHash("$2b$12$abcdefghijklmnopqrstuv")
        let user = StoredUser(
            user: AuthenticatedUser(id: UUID(), email: "a@example.com", role: .user, createdAt: Date()),
            passwordHash: hash
        )
        for text in [
            "\(hash)", String(reflecting: hash), "\(user)", String(reflecting: user),
            "\(Mirror(reflecting: user).children.map { "\($0)" })",
        ] {
            #expect(!text.contains("abcdefghij"), "\(text)")
        }
    }
}

@Suite("Accounts: hand-written encodings match the generic ones (no servers)")
struct AccountsEncodingTests {
    static let dates: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_767_225_600),
        Date(timeIntervalSince1970: 951_782_400.999),  // 2000-02-29, a fraction before midnight
        Date(timeIntervalSince1970: 4_102_444_799), Date(timeIntervalSince1970: 1_709_164_800),  // 2024-02-29
        Date(timeIntervalSince1970: 1_795_587_326.5),
    ]

    @Test("RFC 3339 text is what the API's JSONEncoder writes for a date")
    func rfc3339() throws {
        var dates = Self.dates
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &generator)))
        }
        for date in dates {
            let viaEncoder = String(decoding: try JSONCoding.encoder.encode([date]), as: UTF8.self)
            #expect(viaEncoder == "[\"\(RFC3339.string(from: date))\"]", "\(date.timeIntervalSince1970)")
        }
    }

    @Test(
        "the user envelope is byte for byte the generic envelope",
        arguments: [
            "demo@example.com", "a/b+tag@example.co", "ümlaut@example.com", "quote\"d@example.com", "back\\slash@x.io",
        ]
    )
    func userEnvelope(email: String) throws {
        for date in Self.dates {
            let user = AuthenticatedUser(id: UUID(), email: email, role: .admin, createdAt: date)
            let generic = String(
                decoding: try JSONCoding.encoder.encode(Envelope(data: UserResource(user, points: 42))),
                as: UTF8.self
            )
            if let buffer = UserEnvelope(user, points: 42).handWritten() {
                #expect(String(buffer: buffer) == generic)
            } else {
                #expect(email.contains("\"") || email.contains("\\"))
            }
        }
    }

    @Test("the session codec round-trips a user and refuses anything else")
    func sessionCodec() throws {
        let codec = AuthenticatedUser.sessionCodec
        for date in Self.dates {
            let user = AuthenticatedUser(
                id: UUID(),
                email: "pipe|and\ttab@example.com",
                role: .user,
                createdAt: Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
            )
            let text = try codec.encode(user)
            let back = try Array(text.utf8).withUnsafeBytes { try codec.decode($0) }
            #expect(back == user)
        }
        for bad in [
            "", "2\tx", "1\tnot-a-uuid\tuser\t0\ta@b.c", "1\t5eed0000-0000-4000-8000-000000000002\tking\t0\ta@b.c",
            "1\t5eed0000-0000-4000-8000-000000000002\tuser\tsoon\ta@b.c",
            "1\t5eed0000-0000-4000-8000-000000000002\tuser\t0\t",
            #"{"id":"x"}"#,
        ] {
            #expect(throws: (any Error).self) { try Array(bad.utf8).withUnsafeBytes { try codec.decode($0) } }
        }
    }

    @Test("the fast UUID parser agrees with Foundation's")
    func uuids() {
        for _ in 0..<200 {
            let uuid = UUID()
            #expect(fastUUID(Substring(uuid.uuidString)) == uuid)
            #expect(fastUUID(Substring(uuid.uuidString.lowercased())) == uuid)
        }
        for bad in [
            "", "5eed0000-0000-4000-8000-00000000000g", "5eed0000x0000-4000-8000-000000000002",
            "5eed0000-0000-4000-8000-0000000000020",
        ] {
            #expect(fastUUID(Substring(bad)) == nil)
        }
    }
}
