import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import PostgresNIO
import RedisClient
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Several service instances on one database and one Redis, as `make cluster` runs them.
struct OrdersFixture: Sendable {
    let configuration: ShopConfiguration
    let database: DatabaseURL
    let redis: RedisClient
    /// The instances' HTTP ports.
    let ports: [Int]
    /// A client with a large connection pool, so requests really are concurrent.
    let http: HTTPClient

    func insertProduct(stock: Int, price: String = "2.50", currency: String = "USD") async throws -> UUID {
        let id = UUID()
        _ = try await withClient(self.database) { client in
            try await client.query(
                """
                INSERT INTO products (id, name, description, price, currency, stock)
                VALUES (\(id), \("Product \(id.uuidString.prefix(6))"), '', \(price)::numeric, \(currency), \(stock))
                """
            )
        }
        return id
    }

    /// What this database's PostgreSQL sessions are doing (those not idle), for a report when a test stalls.
    func databaseActivity() async throws -> String {
        try await withClient(self.database) { client in
            let rows = try await client.query(
                """
                SELECT pid, coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''),
                    coalesce(extract(epoch FROM now() - query_start)::int, 0), left(query, 120)
                FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
                """
            )
            var lines: [String] = []
            for try await (pid, state, wait, seconds, query) in rows.decode((Int, String, String, Int, String).self) {
                lines.append("pid \(pid) \(state) wait=\(wait) for \(seconds) s: \(query)")
            }
            return "PostgreSQL sessions not idle: \(lines.count)\n" + lines.joined(separator: "\n")
        }
    }

    func scalar(_ query: PostgresQuery) async throws -> Int {
        try await withClient(self.database) { client in
            for try await value in try await client.query(query).decode(Int.self) { return value }
            throw ScalarMissing()
        }
    }

    /// Signs a new user in on instance `instance` and returns the session cookie value.
    func signIn(_ email: String, role: Role = .user, instance: Int = 0) async throws -> String {
        let fixture = AccountsFixture(configuration: self.configuration, database: self.database, redis: self.redis)
        _ = try await fixture.insertUser(email: email, password: "correct horse battery", role: role)
        let response = try await self.send(
            .POST,
            "/api/v1/auth/login",
            instance: instance,
            body: #"{"email":"\#(email)","password":"correct horse battery"}"#
        )
        let cookie = response.headers["set-cookie"].first { $0.hasPrefix(sessionCookieName + "=") }
        let value = try #require(cookie).split(separator: ";")[0].dropFirst(sessionCookieName.count + 1)
        return String(value)
    }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    func send(
        _ method: NIOHTTP1.HTTPMethod,
        _ path: String,
        instance: Int = 0,
        cookie: String? = nil,
        idempotencyKey: String? = nil,
        body: String? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.ports[instance])\(path)")
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: "\(sessionCookieName)=\(cookie)") }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await self.http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        OpenAPIConformance.record(
            method: HTTPRequest.Method(method.rawValue) ?? .get,
            uri: path,
            status: Int(response.status.code),
            headers: fields,
            body: bytes
        )
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    func order(_ product: UUID, quantity: Int = 1, cookie: String, key: String, instance: Int = 0) async throws -> Reply
    {
        try await self.send(
            .POST,
            "/api/v1/orders",
            instance: instance,
            cookie: cookie,
            idempotencyKey: key,
            body: #"{"items":[{"productId":"\#(product.uuidString.lowercased())","quantity":\#(quantity)}]}"#
        )
    }
}

/// Runs `count` live instances of the service sharing a fresh database and the test Redis.
func withOrderInstances<Result: Sendable>(
    count: Int,
    strategy: StockStrategyKind = .conditionalUpdate,
    configure: ConfigurationTweak = .with { _ in },
    _ body: @escaping @Sendable (OrdersFixture) async throws -> Result
) async throws -> Result {
    try await withTestDatabase { database in
        let configuration = try accountsConfiguration(database: database) { configuration in
            configuration.orders.strategy = strategy
            configuration.orders.keyPrefix = configuration.accounts.sessionKeyPrefix + "orders:"
            configuration.databaseMaxConnections = 20
            // Sign-in limits are not what these tests are about.
            configuration.accounts.loginMaxAttemptsPerAddress = 10_000
            try configure.apply(&configuration)
        }
        return try await withTestRedis(prefix: configuration.accounts.sessionKeyPrefix) { redis in
            _ = try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
            }
            let apps = (0..<count).map { index in
                var instance = configuration
                instance.instanceID = "orders-\(index + 1)"
                return buildApplication(configuration: instance, logger: TestServers.logger)
            }
            var pool = HTTPClient.Configuration.ConnectionPool()
            pool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
            let http = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(connectionPool: pool, decompression: .disabled)
            )
            do {
                let result = try await runAll(apps[...], ports: []) { ports in
                    try await body(
                        OrdersFixture(
                            configuration: configuration,
                            database: database,
                            redis: redis,
                            ports: ports,
                            http: http
                        )
                    )
                }
                try await http.shutdown()
                return result
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }
}

private func runAll<App: ApplicationProtocol, Result: Sendable>(
    _ apps: ArraySlice<App>,
    ports: [Int],
    _ body: @escaping @Sendable ([Int]) async throws -> Result
) async throws -> Result {
    guard let first = apps.first else { return try await body(ports) }
    let rest = apps.dropFirst()
    return try await first.test(.live) { client in
        try await runAll(rest, ports: ports + [try #require(client.port)], body)
    }
}
