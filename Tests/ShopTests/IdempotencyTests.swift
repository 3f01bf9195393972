import AsyncHTTPClient
import Foundation
import RedisClient
import Shop
import Testing

@Suite("Idempotency-Key on POST /api/v1/orders")
struct IdempotencyTests {
    @Test("a repeat replays the first response on any instance, and places nothing twice")
    func sequentialReplay() async throws {
        try await withOrderInstances(count: 2) { shop in
            let product = try await shop.insertProduct(stock: 10)
            let cookie = try await shop.signIn("erin@example.com")
            let first = try await shop.order(product, quantity: 2, cookie: cookie, key: "order-1", instance: 0)
            #expect(first.status == 201)
            #expect(first.headers["idempotent-replayed"].isEmpty)
            let again = try await shop.order(product, quantity: 2, cookie: cookie, key: "order-1", instance: 1)
            #expect(again.status == 201)
            #expect(again.body == first.body)
            #expect(again.headers["idempotent-replayed"].first == "true")
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 1)
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 8)
        }
    }

    @Test("the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; keys belong to one user")
    func mismatchAndScope() async throws {
        try await withOrderInstances(count: 1) { shop in
            let product = try await shop.insertProduct(stock: 10)
            let erin = try await shop.signIn("erin@example.com")
            let frank = try await shop.signIn("frank@example.com")
            #expect(try await shop.order(product, quantity: 1, cookie: erin, key: "k").status == 201)
            let reused = try await shop.order(product, quantity: 3, cookie: erin, key: "k")
            #expect(reused.status == 422)
            #expect(reused.body.contains(#""code":"IDEMPOTENCY_KEY_REUSED""#))
            // Another user's identical key is theirs alone.
            let other = try await shop.order(product, quantity: 1, cookie: frank, key: "k")
            #expect(other.status == 201 && other.headers["idempotent-replayed"].isEmpty)
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 2)
        }
    }

    @Test("concurrent duplicates on three instances create exactly one order")
    func concurrentDuplicates() async throws {
        try await withOrderInstances(count: 3) { shop in
            let product = try await shop.insertProduct(stock: 100)
            let cookie = try await shop.signIn("gina@example.com")
            let replies = try await withThrowingTaskGroup(of: OrdersFixture.Reply.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await shop.order(
                            product,
                            quantity: 1,
                            cookie: cookie,
                            key: "double-click",
                            instance: index % 3
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = replies.filter { $0.status == 201 }
            let inUse = replies.filter { $0.status == 409 && $0.body.contains("IDEMPOTENCY_KEY_IN_USE") }
            #expect(created.count + inUse.count == 60, "\(Set(replies.map(\.status)))")
            #expect(created.count >= 1)
            #expect(Set(created.map(\.body)).count == 1, "every 201 carries the one order")
            #expect(created.filter { $0.headers["idempotent-replayed"].isEmpty }.count == 1)
            #expect(inUse.allSatisfy { $0.headers["retry-after"].first == "1" })
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 1)
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 99)
        }
    }

    @Test("an out-of-stock outcome is replayed as it was")
    func outOfStockReplay() async throws {
        try await withOrderInstances(count: 1) { shop in
            let product = try await shop.insertProduct(stock: 1)
            let cookie = try await shop.signIn("hank@example.com")
            let first = try await shop.order(product, quantity: 5, cookie: cookie, key: "too-many")
            #expect(first.status == 409 && first.body.contains("OUT_OF_STOCK"))
            let again = try await shop.order(product, quantity: 5, cookie: cookie, key: "too-many")
            #expect(again.status == 409 && again.body == first.body)
            #expect(again.headers["idempotent-replayed"].first == "true")
        }
    }

    @Test("when Redis lost its records, the database still prevents a second order and answers the first")
    func databaseBacksUpRedis() async throws {
        try await withOrderInstances(count: 1) { shop in
            let product = try await shop.insertProduct(stock: 10)
            let cookie = try await shop.signIn("ivy@example.com")
            let first = try await shop.order(product, quantity: 1, cookie: cookie, key: "lost")
            #expect(first.status == 201)
            var records: [String] = []
            try await shop.redis.scanKeys(matching: shop.configuration.orders.keyPrefix + "idem:*") {
                records.append(contentsOf: $0)
            }
            #expect(records.count == 1)
            _ = try await shop.redis.delete(records)

            let again = try await shop.order(product, quantity: 1, cookie: cookie, key: "lost")
            #expect(again.status == 201)
            #expect(again.body == first.body)
            #expect(again.headers["idempotent-replayed"].first == "true")
            try await shop.redis.scanKeys(matching: shop.configuration.orders.keyPrefix + "idem:*") {
                _ = try await shop.redis.delete($0)
            }
            let mismatch = try await shop.order(product, quantity: 2, cookie: cookie, key: "lost")
            #expect(mismatch.status == 422)
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 1)
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 9)
        }
    }

    @Test("after the retention the key places a new order")
    func expiry() async throws {
        try await withOrderInstances(count: 1, configure: .with { $0.orders.idempotencyRetention = .seconds(1) }) {
            shop in
            let product = try await shop.insertProduct(stock: 10)
            let cookie = try await shop.signIn("jack@example.com")
            let first = try await shop.order(product, cookie: cookie, key: "daily")
            #expect(first.status == 201)
            try await Task.sleep(for: .milliseconds(1500))
            let later = try await shop.order(product, cookie: cookie, key: "daily")
            #expect(later.status == 201)
            #expect(later.headers["idempotent-replayed"].isEmpty)
            #expect(later.body != first.body)
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 2)
        }
    }
}
