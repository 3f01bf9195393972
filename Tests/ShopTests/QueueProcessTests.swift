import AsyncHTTPClient
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

/// The brief's internal async flow with real `shop serve` processes: orders go through the outbox and the queue
/// to the post-processing, and no accepted order's event is lost or applied twice — through `kill -9`, Redis
/// restarts, Redis outages at publish time and SIGTERM under load.
@Suite("Outbox and queue across processes", .serialized)
struct QueueProcessTests {
    /// Talks to the processes.
    struct Client: Sendable {
        let http: HTTPClient

        func send(
            _ method: NIOHTTP1.HTTPMethod,
            port: Int,
            _ path: String,
            cookie: String? = nil,
            key: String? = nil,
            body: String? = nil,
            headers: [(String, String)] = []
        ) async throws -> (status: Int, body: String, headers: HTTPHeaders) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            request.headers.add(contentsOf: headers)
            if let cookie { request.headers.add(name: "Cookie", value: "\(sessionCookieName)=\(cookie)") }
            if let key { request.headers.add(name: "Idempotency-Key", value: key) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await self.http.execute(request, timeout: .seconds(60))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            return (Int(response.status.code), text, response.headers)
        }

        /// Registers and signs in a user; returns the cookie value.
        func signUp(_ email: String, port: Int) async throws -> String {
            let credentials = #"{"email":"\#(email)","password":"correct horse battery"}"#
            let registered = try await self.send(.POST, port: port, "/api/v1/auth/register", body: credentials)
            #expect(registered.status == 201, "\(registered.body)")
            let login = try await self.send(.POST, port: port, "/api/v1/auth/login", body: credentials)
            let cookie = login.headers["set-cookie"].first { $0.hasPrefix(sessionCookieName + "=") }
            return String(try #require(cookie).split(separator: ";")[0].dropFirst(sessionCookieName.count + 1))
        }

        func order(_ product: UUID, quantity: Int, port: Int, cookie: String, key: String) async throws -> Int {
            let body = #"{"items":[{"productId":"\#(product.uuidString.lowercased())","quantity":\#(quantity)}]}"#
            let reply = try await self.send(.POST, port: port, "/api/v1/orders", cookie: cookie, key: key, body: body)
            #expect(reply.status == 201, "\(reply.body)")
            return reply.status
        }
    }

    /// A migrated database, a client, and the settings for processes, with `redisURL` (the shared test Redis by
    /// default).
    func withSetup(
        redisURL: String? = nil,
        _ body: @Sendable (DatabaseURL, Client, (_ extra: [String: String]) -> [String: String]) async throws -> Void
    ) async throws {
        try await withTestDatabase { database in
            _ = try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
            }
            let prefix = "test:queue-process:\(UUID().uuidString.prefix(8).lowercased()):"
            let url = redisURL ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? ShopConfiguration.defaultRedisURL
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                try await body(database, Client(http: http)) { extra in
                    processEnvironment(database: database, redisURL: url, prefix: prefix, extra: extra)
                }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }

    static func insertProduct(_ database: DatabaseURL, price: String, stock: Int = 1000) async throws -> UUID {
        let id = UUID()
        _ = try await withClient(database) { client in
            try await client.query(
                """
                INSERT INTO products (id, name, description, price, currency, stock)
                VALUES (\(id), 'Queued product', '', \(price)::numeric, 'USD', \(stock))
                """
            )
        }
        return id
    }

    /// Waits (bounded) until every order is confirmed.
    static func waitUntilConfirmed(_ database: DatabaseURL, orders: Int, within limit: Duration = .seconds(60))
        async throws
    {
        let deadline = ContinuousClock.now + limit
        var confirmed = 0
        while ContinuousClock.now < deadline {
            confirmed = try await withClient(database) { client in
                try await client.scalar("SELECT count(*)::int FROM orders WHERE status = 'confirmed'")
            }
            if confirmed == orders { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(confirmed) of \(orders) orders were confirmed")
    }

    /// Every effect of the post-processing happened exactly once per order.
    static func expectEffectsOnce(_ database: DatabaseURL, orders: Int, pointsPerOrder: Int, users: Int) async throws {
        let counts = try await withClient(database) { client -> [Int] in
            [
                try await client.scalar("SELECT count(*)::int FROM orders WHERE status = 'confirmed'"),
                try await client.scalar("SELECT count(*)::int FROM orders WHERE processed_at IS NOT NULL"),
                try await client.scalar("SELECT count(*)::int FROM sent_messages"),
                try await client.scalar("SELECT count(*)::int FROM notifications WHERE kind = 'order.placed'"),
                try await client.scalar("SELECT coalesce(sum(points), 0)::int FROM users"),
                try await client.scalar("SELECT count(*)::int FROM outbox WHERE completed_at IS NULL"),
                try await client.scalar("SELECT count(*)::int FROM users"),
            ]
        }
        // confirmed orders, processed orders, confirmation messages, notifications, points, owed events, users
        #expect(counts == [orders, orders, orders, orders, orders * pointsPerOrder, 0, users])
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func anInstanceKilledMidMessageLeavesItToAnotherAndPointsAreAwardedOnce() async throws {
        try await withSetup { database, client, environment in
            // Slow post-processing so the kill lands in the middle; a short visibility timeout so the takeover is quick.
            let settings = environment([
                "ORDERS_POST_PROCESSING_DELAY_MS": "3000", "QUEUE_VISIBILITY_TIMEOUT_MS": "1500",
            ])
            let a = try await ShopProcess(instance: "queue-a", environment: settings)
            let b = try await ShopProcess(instance: "queue-b", environment: settings)
            try await withShopProcesses([a, b]) {
                let product = try await Self.insertProduct(database, price: "12.50")
                let cookie = try await client.signUp("kill@queue.test", port: a.port)
                _ = try await client.order(product, quantity: 2, port: a.port, cookie: cookie, key: "k-1")
                // Find who is working on it (its delivery is pending under that consumer's name), and kill it.
                let redis = RedisClient(
                    configuration: try RedisConfiguration(url: settings["REDIS_URL"]!),
                    logger: TestServers.logger
                )
                defer { Task { await redis.shutdown() } }
                let stream = "\(settings["QUEUE_KEY_PREFIX"]!){orders}:stream"
                var holder: String?
                for _ in 0..<200 where holder == nil {
                    let pending = try await redis.send(
                        RedisCommand("XPENDING", stream, "order-post-processing", "-", "+", "10")
                    ).decode(as: [RESPValue].self)
                    if let entry = pending.first {
                        holder = try entry.decode(as: [RESPValue].self)[1].decode(as: String.self)
                    } else {
                        try await Task.sleep(for: .milliseconds(25))
                    }
                }
                let victim = try #require([a, b].first { $0.instance == holder })
                victim.kill()
                try await Self.waitUntilConfirmed(database, orders: 1)
                try await Self.expectEffectsOnce(database, orders: 1, pointsPerOrder: 25, users: 1)
                // The survivor shows the points on /me.
                let survivor = victim === a ? b : a
                let me = try await client.send(.GET, port: survivor.port, "/api/v1/me", cookie: cookie)
                #expect(me.body.contains(#""points":25"#), "\(me.body)")
            }
        }
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func nothingQueuedIsLostWhenRedisRestarts() async throws {
        let redisServer = try await CatalogRedisServer.start(appendOnly: true)
        defer { Task { await redisServer.destroy() } }
        try await withSetup(redisURL: redisServer.url) { database, client, environment in
            // A produces (relay on, no consumers); the events wait in the stream.
            let a = try await ShopProcess(
                instance: "produce",
                environment: environment(["QUEUE_CONSUMERS_ENABLED": "false"])
            )
            try await withShopProcesses([a]) {
                let product = try await Self.insertProduct(database, price: "3.00")
                let cookie = try await client.signUp("restart@queue.test", port: a.port)
                for index in 0..<5 {
                    _ = try await client.order(product, quantity: 1, port: a.port, cookie: cookie, key: "r-\(index)")
                }
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    let unpublished = try await withClient(database) { client in
                        try await client.scalar("SELECT count(*)::int FROM outbox WHERE published_at IS NULL")
                    }
                    if unpublished == 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            // Redis dies (SIGKILL) with the events queued but not consumed, and comes back from its AOF.
            await redisServer.stop()
            try await redisServer.launch()
            let b = try await ShopProcess(instance: "consume", environment: environment([:]))
            try await withShopProcesses([b]) {
                try await Self.waitUntilConfirmed(database, orders: 5)
                try await Self.expectEffectsOnce(database, orders: 5, pointsPerOrder: 3, users: 1)
            }
            _ = client
        }
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func eventsWaitInTheOutboxWhileRedisIsDownAndArePublishedOnce() async throws {
        let redisServer = try await CatalogRedisServer.start(appendOnly: true)
        defer { Task { await redisServer.destroy() } }
        try await withSetup(redisURL: redisServer.url) { database, client, environment in
            // A takes orders but neither publishes nor consumes: the events stay in the outbox.
            let a = try await ShopProcess(
                instance: "orders-only",
                environment: environment(["OUTBOX_RELAY_ENABLED": "false", "QUEUE_CONSUMERS_ENABLED": "false"])
            )
            try await withShopProcesses([a]) {
                let product = try await Self.insertProduct(database, price: "7.99")
                let cookie = try await client.signUp("outage@queue.test", port: a.port)
                for index in 0..<3 {
                    _ = try await client.order(product, quantity: 1, port: a.port, cookie: cookie, key: "o-\(index)")
                }
            }
            await redisServer.stop()
            // B's relay tries while Redis is unreachable: the events stay.
            let b = try await ShopProcess(
                instance: "relay",
                environment: environment(["OUTBOX_POLL_INTERVAL_MS": "100"])
            )
            try await withShopProcesses([b]) {
                try await Task.sleep(for: .seconds(2))
                let waiting = try await withClient(database) { client in
                    try await client.scalar("SELECT count(*)::int FROM outbox WHERE published_at IS NULL")
                }
                #expect(waiting == 3)
                try await redisServer.launch()
                try await Self.waitUntilConfirmed(database, orders: 3)
                try await Self.expectEffectsOnce(database, orders: 3, pointsPerOrder: 7, users: 1)
            }
            _ = client
        }
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func sigtermUnderLoadLosesNothingAndAcknowledgesNothingUnfinished() async throws {
        try await withSetup { database, client, environment in
            let settings = environment([
                "ORDERS_POST_PROCESSING_DELAY_MS": "300", "QUEUE_VISIBILITY_TIMEOUT_MS": "2000",
                "QUEUE_SHUTDOWN_GRACE_SECONDS": "1",
            ])
            let a = try await ShopProcess(instance: "drain-a", environment: settings)
            let b = try await ShopProcess(instance: "drain-b", environment: settings)
            try await withShopProcesses([a, b]) {
                let product = try await Self.insertProduct(database, price: "1.00")
                var cookies: [String] = []
                for index in 0..<4 {
                    cookies.append(try await client.signUp("drain-\(index)@queue.test", port: a.port))
                }
                for index in 0..<20 {
                    _ = try await client.order(
                        product,
                        quantity: 1,
                        port: a.port,
                        cookie: cookies[index % 4],
                        key: "d-\(index)"
                    )
                }
                // A stops while both are busy; what it did not finish stays pending and B takes it over.
                let status = await a.terminate()
                #expect(status == 0)
                try await Self.waitUntilConfirmed(database, orders: 20)
                try await Self.expectEffectsOnce(database, orders: 20, pointsPerOrder: 1, users: 4)
            }
        }
    }
}
