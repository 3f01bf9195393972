import PostgresNIO
import RedisClient
import RedisLock
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The jobs admin API, the daily sales batch, the cleanup and the cache rebuild, on live instances.
@Suite("Scheduled jobs in the service")
struct JobsTests {
    /// Jobs under the test's own key prefix (removed afterwards), ticking rarely enough that only manual runs
    /// happen during a test.
    static func jobs(_ extra: @escaping @Sendable (inout ShopConfiguration) -> Void = { _ in }) -> ConfigurationTweak {
        .with { configuration in
            configuration.jobs.keyPrefix = configuration.accounts.sessionKeyPrefix + "jobs:"
            configuration.jobs.cacheRebuildSchedule = "@every 24h"
            configuration.jobs.cleanupSchedule = "@every 24h"
            configuration.jobs.dailySalesSchedule = "0 0 1 1 *"
            extra(&configuration)
        }
    }

    struct JobsAnswer: Decodable {
        struct Job: Decodable {
            let name: String
            let schedule: String
            let nextRunAt: String?
            let missedTicks: String
            let running: Run?
            let lastRuns: [Run]
        }
        struct Run: Decodable {
            let runId: String
            let manual: Bool
            let instance: String
            let outcome: String?
            let error: String?
        }
        struct Meta: Decodable {
            let instance: String
            let schedulerRunning: Bool
        }
        let data: [Job]
        let meta: Meta
    }

    struct SalesAnswer: Decodable {
        struct Row: Decodable, Equatable {
            let day: String
            let currency: String
            let orders: Int
            let units: Int
            let revenue: String
        }
        let data: [Row]
    }

    static func jobs(_ shop: OrdersFixture, cookie: String, instance: Int = 0) async throws -> JobsAnswer {
        let reply = try await shop.send(.GET, "/api/v1/admin/jobs", instance: instance, cookie: cookie)
        #expect(reply.status == 200, "\(reply.body)")
        return try JSONDecoder().decode(JobsAnswer.self, from: Data(reply.body.utf8))
    }

    /// Starts a manual run and waits until it is in the history; returns the run.
    static func run(
        _ job: String,
        _ shop: OrdersFixture,
        cookie: String,
        instance: Int = 0
    ) async throws -> JobsAnswer.Run {
        let reply = try await shop.send(.POST, "/api/v1/admin/jobs/\(job)/run", instance: instance, cookie: cookie)
        #expect(reply.status == 202, "\(reply.body)")
        struct Started: Decodable { let data: JobsAnswer.Run }
        let started = try JSONDecoder().decode(Started.self, from: Data(reply.body.utf8)).data
        #expect(started.manual && started.outcome == nil)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let answer = try await Self.jobs(shop, cookie: cookie, instance: instance)
            if let run = answer.data.first(where: { $0.name == job })?.lastRuns.first(where: {
                $0.runId == started.runId
            }) {
                return run
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the run of \(job) was not recorded")
        return started
    }

    @Test func adminsListAndRunJobsAndEveryInstanceSeesTheRuns() async throws {
        try await withOrderInstances(count: 2, configure: Self.jobs()) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            let user = try await shop.signIn("user@jobs.test")
            // Anonymous 401, users 403, with the template.
            let anonymous = try await shop.send(.GET, "/api/v1/admin/jobs")
            #expect(anonymous.status == 401 && anonymous.body.contains(#""code":"UNAUTHORIZED""#))
            let forbidden = try await shop.send(.POST, "/api/v1/admin/jobs/cleanup/run", cookie: user)
            #expect(forbidden.status == 403 && forbidden.body.contains(#""code":"FORBIDDEN""#))

            let listing = try await Self.jobs(shop, cookie: admin)
            #expect(listing.data.map(\.name) == ["catalog-cache-rebuild", "cleanup", "daily-sales"])
            #expect(listing.data.map(\.schedule) == ["every 86400s", "every 86400s", "cron 0 0 1 1 * in UTC"])
            #expect(listing.data.allSatisfy { $0.nextRunAt != nil && $0.running == nil && $0.lastRuns.isEmpty })
            #expect(listing.data.last?.missedTicks == "runOnce")
            #expect(listing.meta.schedulerRunning && listing.meta.instance == "orders-1")

            // A run on instance 1 shows on instance 2 (the history lives in Redis).
            let run = try await Self.run("cleanup", shop, cookie: admin)
            #expect(run.outcome == "succeeded" && run.instance == "orders-1")
            let seenOnOther = try await Self.jobs(shop, cookie: admin, instance: 1)
            #expect(seenOnOther.data.first { $0.name == "cleanup" }?.lastRuns.map(\.runId) == [run.runId])
            #expect(seenOnOther.meta.instance == "orders-2")

            let unknown = try await shop.send(.POST, "/api/v1/admin/jobs/nope/run", cookie: admin)
            #expect(unknown.status == 404 && unknown.body.contains(#""code":"NOT_FOUND""#))
            let wrongMethod = try await shop.send(.GET, "/api/v1/admin/jobs/cleanup/run", cookie: admin)
            #expect(wrongMethod.status == 405)

            // Paused on one instance, shown as paused by the admin on the other; resumed there.
            let paused = try await shop.send(.POST, "/api/v1/admin/jobs/cleanup/pause", cookie: admin)
            #expect(paused.status == 200 && paused.body.contains(#""by":"admin@jobs.test""#), "\(paused.body)")
            let other = try await shop.send(.GET, "/api/v1/admin/jobs", instance: 1, cookie: admin).body
            #expect(other.contains(#""paused":{"at":"#) && other.contains(#""by":"admin@jobs.test""#), "\(other)")
            let resumed = try await shop.send(.POST, "/api/v1/admin/jobs/cleanup/resume", instance: 1, cookie: admin)
            #expect(resumed.status == 200 && !resumed.body.contains(#""by":"admin@jobs.test""#), "\(resumed.body)")
            #expect(try await shop.send(.POST, "/api/v1/admin/jobs/nope/pause", cookie: admin).status == 404)
            #expect(try await shop.send(.POST, "/api/v1/admin/jobs/cleanup/pause", cookie: user).status == 403)
        }
    }

    @Test func aJobRunningAnywhereRefusesAManualRunWith409() async throws {
        try await withOrderInstances(count: 1, configure: Self.jobs()) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            // Another instance holds the job's lock.
            var lockConfiguration = RedisLockConfiguration()
            lockConfiguration.keyPrefix = shop.configuration.jobs.keyPrefix + "lock:"
            let locks = RedisLocks(client: shop.redis, configuration: lockConfiguration, logger: TestServers.logger)
            let lease = try #require(try await locks.tryAcquire("job:daily-sales", lease: .seconds(30)))
            let busy = try await shop.send(.POST, "/api/v1/admin/jobs/daily-sales/run", cookie: admin)
            #expect(busy.status == 409, "\(busy.body)")
            #expect(busy.body.contains(#""code":"JOB_ALREADY_RUNNING""#))
            #expect(busy.headers["content-type"].first == "application/problem+json")
            try await lease.release()
            let run = try await Self.run("daily-sales", shop, cookie: admin)
            #expect(run.outcome == "succeeded")
        }
    }

    @Test func anInstanceWithoutTheSchedulerAnswers503ToManualRuns() async throws {
        try await withOrderInstances(count: 1, configure: Self.jobs { $0.jobs.enabled = false }) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            let reply = try await shop.send(.POST, "/api/v1/admin/jobs/cleanup/run", cookie: admin)
            #expect(reply.status == 503 && reply.body.contains(#""code":"SERVICE_UNAVAILABLE""#))
            let listing = try await Self.jobs(shop, cookie: admin)
            #expect(!listing.meta.schedulerRunning)
            #expect(listing.data.count == 3)
        }
    }

    @Test func dailySalesTotalsYesterdayAndIsIdempotent() async throws {
        try await withOrderInstances(count: 1, configure: Self.jobs()) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            let buyer = try await shop.signIn("buyer@jobs.test")
            let buyerID = try await Self.userID(shop, email: "buyer@jobs.test")
            let mug = try await shop.insertProduct(stock: 100, price: "5.00")
            let tea = try await shop.insertProduct(stock: 100, price: "2.25", currency: "EUR")
            _ = buyer
            // Yesterday (UTC): two USD orders (3 + 1 mugs), one EUR order (2 teas), one cancelled USD order;
            // today: one USD order, which is not yesterday's.
            let startOfToday = Calendar.utc.startOfDay(for: Date())
            let yesterday = startOfToday.addingTimeInterval(-86_400)
            try await Self.insertOrder(
                shop,
                user: buyerID,
                at: yesterday.addingTimeInterval(60),
                items: [(mug, 3, "5.00")]
            )
            try await Self.insertOrder(
                shop,
                user: buyerID,
                at: startOfToday.addingTimeInterval(-1),
                items: [(mug, 1, "5.00")]
            )
            try await Self.insertOrder(
                shop,
                user: buyerID,
                at: yesterday.addingTimeInterval(3600),
                currency: "EUR",
                items: [(tea, 2, "2.25")]
            )
            try await Self.insertOrder(
                shop,
                user: buyerID,
                at: yesterday.addingTimeInterval(7200),
                status: "cancelled",
                items: [(mug, 9, "5.00")]
            )
            try await Self.insertOrder(shop, user: buyerID, at: startOfToday, items: [(mug, 4, "5.00")])

            #expect(try await Self.run("daily-sales", shop, cookie: admin).outcome == "succeeded")
            let day = Self.dayName(yesterday)
            let expected = [
                SalesAnswer.Row(day: day, currency: "EUR", orders: 1, units: 2, revenue: "4.50"),
                SalesAnswer.Row(day: day, currency: "USD", orders: 2, units: 4, revenue: "20.00"),
            ]
            #expect(try await Self.sales(shop, cookie: admin, day: day) == expected)
            // Again: the same rows, not doubled.
            #expect(try await Self.run("daily-sales", shop, cookie: admin).outcome == "succeeded")
            #expect(try await Self.sales(shop, cookie: admin, day: day) == expected)
            #expect(try await shop.scalar("SELECT count(*)::int FROM daily_sales") == 2)
            // A late order for yesterday is picked up by a re-run.
            try await Self.insertOrder(
                shop,
                user: buyerID,
                at: yesterday.addingTimeInterval(10),
                items: [(mug, 1, "5.00")]
            )
            #expect(try await Self.run("daily-sales", shop, cookie: admin).outcome == "succeeded")
            #expect(
                try await Self.sales(shop, cookie: admin, day: day).last
                    == SalesAnswer.Row(day: day, currency: "USD", orders: 3, units: 5, revenue: "25.00")
            )
            // Bad report parameters answer the template.
            let bad = try await shop.send(.GET, "/api/v1/admin/sales/daily?from=2026-02-30", cookie: admin)
            #expect(bad.status == 400 && bad.body.contains(#""code":"INVALID_PARAMETER""#))
            let reversed = try await shop.send(
                .GET,
                "/api/v1/admin/sales/daily?from=2026-02-02&to=2026-02-01",
                cookie: admin
            )
            #expect(reversed.status == 400 && reversed.body.contains(#""field":"from""#))
        }
    }

    @Test func cleanupRemovesExpiredRecordsStaleIndexEntriesAndOldRuns() async throws {
        try await withOrderInstances(
            count: 1,
            configure: Self.jobs { $0.orders.idempotencyRetention = .seconds(3600) }
        ) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            let buyerID = try await Self.userID(shop, email: "admin@jobs.test")
            let mug = try await shop.insertProduct(stock: 10)
            let oldOrder = try await Self.insertOrder(shop, user: buyerID, at: Date(), items: [(mug, 1, "2.50")])
            let newOrder = try await Self.insertOrder(shop, user: buyerID, at: Date(), items: [(mug, 1, "2.50")])
            _ = try await withClient(shop.database) { client in
                try await client.query(
                    """
                    INSERT INTO idempotency_records (user_id, key, request_hash, order_id, response_status, response_body, created_at)
                    VALUES (\(buyerID), 'old-key', 'h', \(oldOrder), 201, '{}', now() - interval '2 hours'),
                           (\(buyerID), 'new-key', 'h', \(newOrder), 201, '{}', now())
                    """
                )
            }
            // An index entry whose session is gone (its key deleted without unindexing), next to the live one.
            let index =
                "\(shop.configuration.accounts.sessionKeyPrefix)user:{\(buyerID.uuidString.lowercased())}:sessions"
            let future = Int(Date().timeIntervalSince1970 * 1000) + 3_600_000
            _ = try await shop.redis.send(RedisCommand("ZADD", index, String(future), "gone-session-hash"))
            let before = try await shop.redis.send(RedisCommand("ZCARD", index)).decode(as: Int.self)
            #expect(before == 2)
            // A run that ended long ago, older than the history retention (168 h).
            let history = "\(shop.configuration.jobs.keyPrefix){cleanup}:history"
            let ancient =
                #"{"endedAt":1000,"instance":"gone","job":"cleanup","manual":false,"outcome":"succeeded","runID":"r0","startedAt":900,"tick":900}"#
            _ = try await shop.redis.send(RedisCommand("RPUSH", history, ancient))

            // Outbox rows and processed-message records: old delivered ones go; recent ones, and owed ones of any
            // age (published long ago but never delivered), stay.
            _ = try await withClient(shop.database) { client in
                try await client.query(
                    """
                    INSERT INTO outbox (id, topic, type, payload, created_at, published_at, completed_at) VALUES
                        (\(UUID()), 'orders', 'old', '{}', now() - interval '9 days', now() - interval '9 days',
                            now() - interval '8 days'),
                        (\(UUID()), 'orders', 'recent', '{}', now(), now(), now()),
                        (\(UUID()), 'orders', 'unpublished', '{}', now() - interval '9 days', now() - interval '9 days',
                            NULL)
                    """
                )
                try await client.query(
                    """
                    INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES
                        ('c', 'old', now() - interval '8 days'), ('c', 'recent', now())
                    """
                )
            }

            #expect(try await Self.run("cleanup", shop, cookie: admin).outcome == "succeeded")
            let kept = try await withClient(shop.database) { client -> [String] in
                var kept: [String] = []
                for try await type in try await client.query("SELECT type FROM outbox ORDER BY type").decode(
                    String.self
                ) {
                    kept.append(type)
                }
                for try await id in try await client.query(
                    "SELECT message_id FROM processed_messages WHERE consumer = 'c' ORDER BY message_id"
                ).decode(String.self) {
                    kept.append("processed:" + id)
                }
                return kept
            }
            #expect(
                kept.filter { ["old", "recent", "unpublished", "processed:old", "processed:recent"].contains($0) }
                    == ["recent", "unpublished", "processed:recent"]
            )
            let keys = try await withClient(shop.database) { client in
                var keys: [String] = []
                for try await key in try await client.query("SELECT key FROM idempotency_records ORDER BY key").decode(
                    String.self
                ) {
                    keys.append(key)
                }
                return keys
            }
            #expect(keys == ["new-key"])
            let members = try await shop.redis.send(RedisCommand("ZRANGE", index, "0", "-1")).decode(as: [String].self)
            #expect(members.count == 1 && !members.contains("gone-session-hash"))
            // The admin's own session still works after the cleanup.
            #expect(try await shop.send(.GET, "/api/v1/me", cookie: admin).status == 200)
            let runs = try await shop.redis.send(RedisCommand("LRANGE", history, "0", "-1")).decode(as: [String].self)
            #expect(runs.count == 1 && !runs.contains(ancient))
        }
    }

    @Test func theCacheRebuildReloadsTheMostReadProducts() async throws {
        try await withOrderInstances(count: 1, configure: Self.jobs { $0.jobs.cacheRebuildTop = 1 }) { shop in
            let admin = try await shop.signIn("admin@jobs.test", role: .admin)
            let hot = try await shop.insertProduct(stock: 5, price: "1.00")
            let cold = try await shop.insertProduct(stock: 5, price: "1.00")
            for _ in 0..<3 { _ = try await shop.send(.GET, "/api/v1/products/\(hot.uuidString.lowercased())") }
            _ = try await shop.send(.GET, "/api/v1/products/\(cold.uuidString.lowercased())")
            // Both are cached now. Change both behind the cache's back (no eviction).
            _ = try await withClient(shop.database) { client in
                try await client.query("UPDATE products SET price = 7.00 WHERE id IN (\(hot), \(cold))")
            }
            #expect(try await Self.run("catalog-cache-rebuild", shop, cookie: admin).outcome == "succeeded")
            // The most-read product was reloaded; the other still shows its cached price.
            let hotReply = try await shop.send(.GET, "/api/v1/products/\(hot.uuidString.lowercased())")
            let coldReply = try await shop.send(.GET, "/api/v1/products/\(cold.uuidString.lowercased())")
            #expect(hotReply.body.contains(#""price":"7.00""#), "\(hotReply.body)")
            #expect(coldReply.body.contains(#""price":"1.00""#), "\(coldReply.body)")
        }
    }

    // MARK: Helpers

    static func userID(_ shop: OrdersFixture, email: String) async throws -> UUID {
        try await withClient(shop.database) { client in
            for try await id in try await client.query("SELECT id FROM users WHERE email = \(email)").decode(UUID.self)
            {
                return id
            }
            throw ScalarMissing()
        }
    }

    @discardableResult
    static func insertOrder(
        _ shop: OrdersFixture,
        user: UUID,
        at date: Date,
        currency: String = "USD",
        status: String = "confirmed",
        items: [(UUID, Int, String)]
    ) async throws -> UUID {
        let id = UUID()
        let total = items.reduce(Decimal(0)) { $0 + Decimal($1.1) * Decimal(string: $1.2)! }
        _ = try await withClient(shop.database) { client in
            try await client.query(
                """
                INSERT INTO orders (id, user_id, status, total, currency, created_at, updated_at)
                VALUES (\(id), \(user), \(status), \("\(total)")::numeric, \(currency), \(date), \(date))
                """
            )
            for (product, quantity, price) in items {
                try await client.query(
                    """
                    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
                    VALUES (\(id), \(product), \(quantity), \(price)::numeric)
                    """
                )
            }
        }
        return id
    }

    static func sales(_ shop: OrdersFixture, cookie: String, day: String) async throws -> [SalesAnswer.Row] {
        let reply = try await shop.send(.GET, "/api/v1/admin/sales/daily?from=\(day)&to=\(day)", cookie: cookie)
        #expect(reply.status == 200, "\(reply.body)")
        return try JSONDecoder().decode(SalesAnswer.self, from: Data(reply.body.utf8)).data
    }

    static func dayName(_ date: Date) -> String {
        let parts = Calendar.utc.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

extension Calendar {
    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }
}
