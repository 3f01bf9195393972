import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import RedisClient
import RedisLock
import StreamQueue
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The durability model's promises, each under the fault it is about: Redis losing what it acknowledged, a
/// redelivery after the markers aged out, a copy left stale, a stock counter that leaked units.
@Suite("Durability of accepted work", .serialized)
struct DurabilityTests {
    /// Queue keys and the notification channel of the test's own, relay re-sends after half a second.
    static func isolated(_ configuration: inout ShopConfiguration) {
        configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
        configuration.notifications.channel = String((configuration.accounts.sessionKeyPrefix + "notify").prefix(64))
        configuration.queue.resendAfter = .milliseconds(500)
    }

    /// Waits (bounded) until `condition` holds; records an issue when it never does.
    static func eventually(
        _ what: String,
        within limit: Duration = .seconds(30),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("never: \(what)", sourceLocation: sourceLocation)
    }

    static func placeOrder(_ shop: OrdersFixture, product: UUID, cookie: String, key: String) async throws -> UUID {
        let reply = try await shop.order(product, cookie: cookie, key: key)
        #expect(reply.status == 201, "\(reply.body)")
        let id = try JSONDecoder().decode(OrderEnvelope.self, from: Data(reply.body.utf8)).data.id
        return try #require(UUID(uuidString: id))
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func eventsRedisLostAfterAcknowledgingThemAreDeliveredAnyway() async throws {
        let server = try await CatalogRedisServer.start()
        defer { Task { await server.destroy() } }
        let url = server.url
        try await withOrderInstances(
            count: 1,
            configure: .with { configuration in
                Self.isolated(&configuration)
                configuration.redis = try RedisConfiguration(url: url)
                configuration.queue.consumersEnabled = false
            }
        ) { shop in
            let cookie = try await shop.signIn("lost@durability.test")
            let product = try await shop.insertProduct(stock: 10, price: "4.00")
            for index in 0..<3 {
                _ = try await Self.placeOrder(shop, product: product, cookie: cookie, key: "lost-\(index)")
            }
            try await Self.eventually("the relay published the three events") {
                try await shop.scalar("SELECT count(*)::int FROM outbox WHERE published_at IS NOT NULL") == 3
            }
            // Redis acknowledged the XADDs, then lost them (as a restore from an older snapshot does).
            _ = await server.cli(["FLUSHALL"])
            var configuration = shop.configuration
            configuration.queue.consumersEnabled = true
            configuration.instanceID = "consumer-after-loss"
            let consumer = buildApplication(configuration: configuration, logger: TestServers.logger)
            try await consumer.test(.live) { _ in
                try await Self.eventually("every order was post-processed") {
                    try await shop.scalar("SELECT count(*)::int FROM orders WHERE processed_at IS NOT NULL") == 3
                }
            }
            #expect(try await shop.scalar("SELECT count(*)::int FROM outbox WHERE completed_at IS NULL") == 0)
            #expect(try await shop.scalar("SELECT sum(points)::int FROM users") == 12)
        }
    }

    @Test(.timeLimit(.minutes(10)))  // a guard against hangs: a loaded machine took over 3 minutes
    func aRedeliveryAfterTheMarkersAgedOutAppliesNothingAndRepairsTheStaleCopy() async throws {
        try await withOrderInstances(count: 1, configure: .with { Self.isolated(&$0) }) { shop in
            let cookie = try await shop.signIn("copy@durability.test")
            let product = try await shop.insertProduct(stock: 10, price: "6.00")
            let order = try await Self.placeOrder(shop, product: product, cookie: cookie, key: "copy-1")
            try await Self.eventually("the order was post-processed") {
                try await shop.scalar("SELECT count(*)::int FROM orders WHERE processed_at IS NOT NULL") == 1
            }
            let me = try await shop.send(.GET, "/api/v1/me", cookie: cookie)
            #expect(me.body.contains(#""points":6"#), "\(me.body)")
            // The cleanup deleted the processed-message records (they age out), and the copy in Redis missed the
            // last write (the process died between its commit and its SET): a stale value in the copy's format.
            _ = try await withClient(shop.database) { client in
                try await client.query("DELETE FROM processed_messages")
            }
            let user = try await withClient(shop.database) { client -> UUID in
                for try await id in try await client.query("SELECT user_id FROM orders WHERE id = \(order)")
                    .decode(UUID.self)
                {
                    return id
                }
                throw ScalarMissing()
            }
            let copy = "\(shop.configuration.cache.keyPrefix)points:{\(user.uuidString.lowercased())}"
            let current = try await shop.redis.send(RedisCommand("GET", copy)).decode(as: String.self)
            let stale = current.contains(":") ? "0:0" : "0"
            _ = try await shop.redis.send(RedisCommand("SET", copy, stale))
            // The event comes back (a redelivery, a re-send, a replayed dead letter).
            let (id, payload) = try await withClient(shop.database) { client -> (UUID, String) in
                for try await row in try await client.query("SELECT id, payload FROM outbox").decode(
                    (UUID, String).self
                ) {
                    return row
                }
                throw ScalarMissing()
            }
            var settings = StreamQueueConfiguration()
            settings.keyPrefix = shop.configuration.queue.keyPrefix
            let queue = StreamQueue(client: shop.redis, configuration: settings, logger: TestServers.logger)
            try await queue.publish(
                OutgoingMessage(id: id.uuidString.lowercased(), type: "order.placed", payload: payload),
                to: "orders"
            )
            try await Self.eventually("/me shows the committed balance again") {
                try await shop.send(.GET, "/api/v1/me", cookie: cookie).body.contains(#""points":6"#)
            }
            #expect(try await shop.scalar("SELECT points::int FROM users WHERE id = \(user)") == 6)
            #expect(try await shop.scalar("SELECT count(*)::int FROM sent_messages") == 1)
        }
    }

    @Test func aPointsCopyNeverMovesBackwards() async throws {
        try await withOrderInstances(count: 1) { shop in
            let reader = PointsReader(
                redis: shop.redis,
                postgres: Database(client: PostgresClient(configuration: shop.database.clientConfiguration())),
                keyPrefix: shop.configuration.cache.keyPrefix,
                ttl: .seconds(60),
                logger: TestServers.logger
            )
            let user = UUID()
            try await reader.store(PointsBalance(points: 30, version: 5), of: user)
            // A slow writer arrives with an older balance: it must not win.
            try await reader.store(PointsBalance(points: 27, version: 4), of: user)
            let copy = try await shop.redis.send(RedisCommand("GET", reader.key(user))).decode(as: String.self)
            #expect(PointsReader.points(inCopy: copy) == 30)
            try await reader.store(PointsBalance(points: 31, version: 6), of: user)
            let newer = try await shop.redis.send(RedisCommand("GET", reader.key(user))).decode(as: String.self)
            #expect(PointsReader.points(inCopy: newer) == 31)
        }
    }

    @Test func aCounterThatLeakedUnitsNeverRefusesAnOrderTheStockCanServe() async throws {
        try await withOrderInstances(count: 1, strategy: .redisCounter) { shop in
            let cookie = try await shop.signIn("leak@durability.test")
            let product = try await shop.insertProduct(stock: 3, price: "1.00")
            _ = try await Self.placeOrder(shop, product: product, cookie: cookie, key: "leak-1")
            let counter = "\(shop.configuration.orders.keyPrefix)stock:{inventory}:\(product.uuidString)"
            #expect(try await shop.redis.send(RedisCommand("GET", counter)).decode(as: String.self) == "2")
            // Two reservations whose processes died before their commits: the counter shows 0, PostgreSQL 2.
            _ = try await shop.redis.send(RedisCommand("DECRBY", counter, 2))
            let reply = try await shop.order(product, quantity: 2, cookie: cookie, key: "leak-2")
            #expect(reply.status == 201, "\(reply.body)")
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 0)
            // The counter was set again from the database; now a refusal is the truth.
            #expect(try await shop.redis.send(RedisCommand("GET", counter)).decode(as: String.self) == "0")
            let refused = try await shop.order(product, quantity: 1, cookie: cookie, key: "leak-3")
            #expect(refused.status == 409 && refused.body.contains("OUT_OF_STOCK"), "\(refused.body)")
        }
    }
}

/// The database facade's bound on waiting for a connection.
@Suite("Database connection wait")
struct DatabaseWaitTests {
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { self.value.withLock { $0 = true } }
        var isSet: Bool { self.value.withLock { $0 } }
    }

    @Test func aCallThatWaitsTooLongGivesUpAndNeverRunsLate() async throws {
        try await withTestDatabase { database in
            let pool = PostgresClient(
                configuration: database.clientConfiguration(maxConnections: 1),
                backgroundLogger: TestServers.logger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pool.run() }
                let db = Database(client: pool, backgroundWait: .milliseconds(300))
                // The pool's only connection is busy for a while. The holder itself may wait long for it (opening
                // it took more than 300 ms on a loaded clean-clone run), and has it well before the call below.
                let patient = Database(client: pool, backgroundWait: .seconds(30))
                let holder = Task { try await patient.query("SELECT pg_sleep(3)", logger: TestServers.logger) }
                try await Task.sleep(for: .seconds(1))
                let ran = Flag()
                await #expect(throws: DatabaseUnavailable.self) {
                    try await db.withConnection { _ in ran.set() }
                }
                _ = try await holder.value
                // The pool may hand the connection to the call that gave up: it is released without running.
                try await Task.sleep(for: .milliseconds(300))
                #expect(!ran.isSet)
                let rows = try await db.query("SELECT 1", logger: TestServers.logger)
                var count = 0
                for try await _ in rows.decode(Int.self) { count += 1 }
                #expect(count == 1)
                group.cancelAll()
            }
        }
    }
}

/// The classification the shop's consumers use: the infrastructure's failures are waited out.
@Suite("Failure classification")
struct ShopFailureClassificationTests {
    @Test func outagesAndBusyLocksAreTransientAndBadMessagesAreNot() {
        #expect(ShopFailures.classify(DatabaseUnavailable(waited: .seconds(2))) == .transient)
        #expect(ShopFailures.classify(RedisError(.connectionClosed, "gone")) == .transient)
        #expect(ShopFailures.classify(RedisLockError.timedOut("user:1")) == .transient)
        #expect(ShopFailures.classify(RedisLockError.leaseLost("user:1")) == .transient)
        #expect(ShopFailures.classify(PostProcessingError("undecodable order.placed payload")) == .message)
        #expect(ShopFailures.classify(RedisError(.server, "WRONGTYPE Operation")) == .message)
    }
}
