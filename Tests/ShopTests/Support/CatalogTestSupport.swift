import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RedisClient
import Shop
import Synchronization
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a catalog test shares between its application instances.
struct CatalogFixture: Sendable {
    let database: DatabaseURL
    let configuration: ShopConfiguration

    /// The Redis key of a cached product.
    func productKey(_ id: String) -> String {
        self.configuration.cache.keyPrefix + "{products:\(id)}"
    }
}

/// Runs `test` with `instances` independent applications (each with its own Redis client, PostgreSQL pool and
/// cache manager) on one seeded database of its own and one Redis, as separate processes would be. Cache and
/// session keys get a prefix of the test's own, deleted afterwards.
func withCatalogApps(
    instances: Int = 1,
    logger: Logger = TestServers.logger,
    configure: @escaping @Sendable (inout ShopConfiguration) throws -> Void = { _ in },
    _ test: @escaping @Sendable ([any TestClientProtocol], CatalogFixture) async throws -> Void
) async throws {
    try await withTestDatabase { database in
        let tag = UUID().uuidString.prefix(8).lowercased()
        var configuration = try testConfiguration(database: database)
        configuration.cache.keyPrefix = "test:catalog:\(tag):"
        configuration.accounts.sessionKeyPrefix = "test:catalog-auth:\(tag):"
        try configure(&configuration)
        try await withClient(database) { client in
            try await Migrator(client: client, logger: TestServers.logger).migrate()
            try await Seeder(client: client, logger: TestServers.logger).seed()
        }
        let fixture = CatalogFixture(database: database, configuration: configuration)
        let apps = (0..<instances).map { index in
            var instance = configuration
            instance.instanceID = "test-\(index + 1)"
            return buildApplication(configuration: instance, logger: logger)
        }
        do {
            try await runApps(apps[...], clients: []) { clients in try await test(clients, fixture) }
        } catch {
            await deleteTestKeys(configuration)
            throw error
        }
        await deleteTestKeys(configuration)
    }
}

private func runApps<App: ApplicationProtocol>(
    _ apps: ArraySlice<App>,
    clients: [any TestClientProtocol],
    _ body: @escaping @Sendable ([any TestClientProtocol]) async throws -> Void
) async throws {
    guard let app = apps.first else { return try await body(clients) }
    try await app.test(.router) { client in
        try await runApps(apps.dropFirst(), clients: clients + [client.checkedAgainstOpenAPI], body)
    }
}

/// Deletes the keys of `prefixes` (default: the cache's and the sessions') on the test Redis.
func deleteTestKeys(_ configuration: ShopConfiguration, prefixes: [String]? = nil) async {
    guard configuration.redis.port == (try? TestServers.redis.port) else { return }
    let redis = RedisClient(configuration: configuration.redis, logger: TestServers.logger)
    for prefix in prefixes ?? [configuration.cache.keyPrefix, configuration.accounts.sessionKeyPrefix] {
        try? await redis.scanKeys(matching: prefix + "*") { keys in _ = try await redis.unlink(keys) }
    }
    await redis.shutdown()
}

/// The seeded limited edition mug.
let mugID = "0b5c4b1e-7d1f-4c55-9f4e-000000000004"

extension TestClientProtocol {
    /// Signs in and returns the `Cookie` header value of the session.
    func catalogLogin(_ email: String, _ password: String) async throws -> String {
        let response = try await self.executeRequest(
            uri: "/api/v1/auth/login",
            method: .post,
            headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"email":"\#(email)","password":"\#(password)"}"#)
        )
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        let setCookie = try #require(response.headers[values: .setCookie].first)
        return String(setCookie.split(separator: ";")[0])
    }

    /// Signs in as the seeded admin.
    func adminCookie() async throws -> String {
        try await self.catalogLogin(Seeder.adminEmail, Seeder.adminPassword)
    }

    /// Signs in as the seeded user (no admin role).
    func userCookie() async throws -> String {
        try await self.catalogLogin(Seeder.demoEmail, Seeder.demoPassword)
    }

    /// A request with an optional session cookie and JSON body.
    func catalogRequest(
        _ method: HTTPRequest.Method,
        _ uri: String,
        cookie: String? = nil,
        json: String? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        if json != nil { headers[.contentType] = "application/json" }
        return try await self.executeRequest(
            uri: uri,
            method: method,
            headers: headers,
            body: json.map { ByteBuffer(string: $0) }
        )
    }

    /// `GET /api/v1/products/{id}` decoded; expects 200.
    func product(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> ProductBody {
        let response = try await self.catalogRequest(.get, "/api/v1/products/\(id)")
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        return try response.json(Envelope1<ProductBody>.self).data
    }

    /// `GET /api/v1/admin/cache/stats` decoded; expects 200.
    func cacheStats(cookie: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> CacheStats {
        let response = try await self.catalogRequest(.get, "/api/v1/admin/cache/stats", cookie: cookie)
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        return try response.json(Envelope1<CacheStats>.self).data
    }
}

/// `{"data": ...}` of a response, ignoring `meta`.
struct Envelope1<Payload: Decodable>: Decodable {
    var data: Payload
}

/// A product as the API shows it.
struct ProductBody: Decodable, Equatable {
    var id: String
    var name: String
    var description: String
    var price: String
    var currency: String
    var stock: Int
    var updatedAt: String
}

extension CacheStats {
    /// The statistics of one namespace.
    func namespace(_ name: String) -> NamespaceStats? {
        self.namespaces.first { $0.namespace == name }
    }
}

/// Log lines of the loggers made with ``logger``.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "captured") { _ in CapturedLogHandler(sink: self) }
        logger.logLevel = .notice
        return logger
    }

    var all: [String] { self.lines.withLock { $0 } }

    fileprivate func append(_ line: String) {
        self.lines.withLock { $0.append(line) }
    }
}

private struct CapturedLogHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.sink.append("\(event.level) \(event.message)")
    }
}
