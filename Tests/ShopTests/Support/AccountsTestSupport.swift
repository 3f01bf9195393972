import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import RedisClient
import RedisSessions
import Shop
import Synchronization
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What an accounts test may look at besides HTTP: the configuration and a Redis client on the same server.
struct AccountsFixture: Sendable {
    let configuration: ShopConfiguration
    let database: DatabaseURL
    let redis: RedisClient

    var prefix: String { self.configuration.accounts.sessionKeyPrefix }

    /// A store on the same keys as the application's.
    func store() throws -> RedisSessionStore<AuthenticatedUser> {
        try RedisSessionStore(
            redis: self.redis,
            configuration: RedisSessionConfiguration(
                keyPrefix: self.prefix,
                idleTimeout: self.configuration.accounts.sessionIdleTimeout,
                absoluteLifetime: self.configuration.accounts.sessionAbsoluteLifetime,
                touchInterval: self.configuration.accounts.sessionTouchInterval
            ),
            logger: TestServers.logger,
            codec: AuthenticatedUser.sessionCodec
        )
    }

    /// Keys under the test's prefix.
    func keys() async throws -> [String] {
        var keys: [String] = []
        try await self.redis.scanKeys(matching: self.prefix + "*") { keys.append(contentsOf: $0) }
        return keys
    }

    /// Inserts a user with a cheap (cost 4) hash directly, for roles the API cannot create.
    func insertUser(email: String, password: String, role: Role) async throws -> UUID {
        try await withClient(self.database) { client in
            let hash = Bcrypt.hash(password, cost: 4)
            return try await PostgresUserRepository(client: Database(client: client), logger: TestServers.logger)
                .create(email: email, passwordHash: PasswordHash(hash), role: role).id
        }
    }

    /// The seed's demo user (same id, e-mail, password and creation time) with a cheap hash; the seeder's
    /// cost-12 hashes would hold a test thread for seconds in a debug build.
    func insertDemoUser() async throws {
        try await withClient(self.database) { client in
            let hash = Bcrypt.hash(Seeder.demoPassword, cost: 4)
            try await client.query(
                """
                INSERT INTO users (id, email, password_hash, role, created_at)
                VALUES ('5eed0000-0000-4000-8000-000000000002', \(Seeder.demoEmail), \(hash), 'user',
                        '2026-01-01T00:00:00Z')
                """
            )
        }
    }

    /// The stored hash of a user.
    func passwordHash(email: String) async throws -> String {
        try await withClient(self.database) { client in
            let rows = try await client.query("SELECT password_hash FROM users WHERE email = \(email)")
            for try await hash in rows.decode(String.self) { return hash }
            throw ScalarMissing()
        }
    }
}

/// The accounts settings of a test: its own key prefix, cheap bcrypt, the given tweaks.
func accountsConfiguration(
    database: DatabaseURL,
    configure: (inout ShopConfiguration) throws -> Void
) throws -> ShopConfiguration {
    var configuration = try testConfiguration(database: database)
    configuration.accounts.sessionKeyPrefix = "test:shop:\(UUID().uuidString.prefix(8).lowercased()):"
    // Under the session prefix, so `withTestRedis` removes the queue's and the scheduler's keys afterwards.
    configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
    configuration.jobs.keyPrefix = configuration.accounts.sessionKeyPrefix + "jobs:"
    configuration.accounts.passwordHashCost = 4
    configuration.accounts.sessionTouchInterval = .zero
    try configure(&configuration)
    return configuration
}

/// Runs `body` with a Redis client of the tests' server, removing every key under `prefix` afterwards.
func withTestRedis<Result: Sendable>(
    prefix: String,
    _ body: (RedisClient) async throws -> Result
) async throws -> Result {
    let redis = RedisClient(configuration: try TestServers.redis, logger: TestServers.logger)
    func cleanUp() async {
        var keys: [String] = []
        try? await redis.scanKeys(matching: prefix + "*") { keys.append(contentsOf: $0) }
        if !keys.isEmpty { _ = try? await redis.delete(keys) }
        await redis.shutdown()
    }
    do {
        let result = try await body(redis)
        await cleanUp()
        return result
    } catch {
        await cleanUp()
        throw error
    }
}

/// Changes a test makes to the configuration.
struct ConfigurationTweak: Sendable {
    let apply: @Sendable (inout ShopConfiguration) throws -> Void

    static func with(_ apply: @escaping @Sendable (inout ShopConfiguration) throws -> Void) -> Self {
        Self(apply: apply)
    }
}

/// Routes a test adds to the application.
struct TestRoutes: Sendable {
    let add: @Sendable (RegisteringRouter<ShopRequestContext>) -> Void

    static func routes(_ add: @escaping @Sendable (RegisteringRouter<ShopRequestContext>) -> Void) -> Self {
        Self(add: add)
    }
}

/// One application on a database of its own, with the accounts fixture.
func withAccountsApp<Result: Sendable>(
    _ setup: TestingSetup = .router,
    logger: Logger = TestServers.logger,
    configure: ConfigurationTweak = .with { _ in },
    extraRoutes: TestRoutes? = nil,
    _ test: @escaping @Sendable (any TestClientProtocol, AccountsFixture) async throws -> Result
) async throws -> Result {
    try await withTestDatabase { database in
        let configuration = try accountsConfiguration(database: database, configure: configure.apply)
        return try await withTestRedis(prefix: configuration.accounts.sessionKeyPrefix) { redis in
            _ = try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
            }
            let fixture = AccountsFixture(configuration: configuration, database: database, redis: redis)
            let app = buildApplication(
                configuration: configuration,
                logger: logger,
                options: ApplicationOptions(extraRoutes: extraRoutes?.add)
            )
            return try await app.test(setup) { client in try await test(client.checkedAgainstOpenAPI, fixture) }
        }
    }
}

let sessionCookieName = "shop_session"

extension TestClientProtocol {
    /// `POST` of a JSON body.
    func post(
        _ uri: String,
        json: String,
        cookie: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let cookie { headers[.cookie] = "\(sessionCookieName)=\(cookie)" }
        headers.append(contentsOf: extra)
        return try await self.executeRequest(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    /// A request with the session cookie, if any.
    func send(
        _ method: HTTPRequest.Method,
        _ uri: String,
        cookie: String?,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = "\(sessionCookieName)=\(cookie)" }
        headers.append(contentsOf: extra)
        return try await self.executeRequest(uri: uri, method: method, headers: headers, body: nil)
    }

    /// Registers an account; expects 201.
    @discardableResult
    func register(_ email: String, _ password: String, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> TestResponse
    {
        let response = try await self.post(
            "/api/v1/auth/register",
            json: #"{"email":"\#(email)","password":"\#(password)"}"#
        )
        #expect(response.status == .created, "\(response.text)", sourceLocation: sourceLocation)
        return response
    }

    /// Signs in and returns the session cookie's value; expects 200.
    func login(
        _ email: String,
        _ password: String,
        cookie: String? = nil,
        headers: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let response = try await self.post(
            "/api/v1/auth/login",
            json: #"{"email":"\#(email)","password":"\#(password)"}"#,
            cookie: cookie,
            headers: headers
        )
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        return try #require(response.sessionCookie, sourceLocation: sourceLocation)
    }
}

extension TestResponse {
    /// The value the response sets the session cookie to, if it sets it.
    var sessionCookie: String? {
        for header in self.headers[values: .setCookie] where header.hasPrefix(sessionCookieName + "=") {
            return String(header.split(separator: ";")[0].dropFirst(sessionCookieName.count + 1))
        }
        return nil
    }

    /// The `Set-Cookie` header of the session cookie.
    var sessionSetCookie: String? {
        self.headers[values: .setCookie].first { $0.hasPrefix(sessionCookieName + "=") }
    }
}

/// Every log line of the loggers made with ``logger``, as text (message, all metadata, source).
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])

    /// A trace-level logger that writes here.
    var logger: Logger {
        Logger(label: "captured") { _ in CapturingLogHandler(sink: self) }
    }

    var all: [String] { self.lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) \(merged) \(event.source)"
        self.sink.lines.withLock { $0.append(text) }
    }
}
