import AsyncHTTPClient
import Foundation
import RedisClient
import Shop
import Testing

@Suite("Orders")
struct OrdersTests {
    @Test("an order takes stock, is listed, and other users cannot see it")
    func placeListAndShow() async throws {
        try await withOrderInstances(count: 1) { shop in
            let product = try await shop.insertProduct(stock: 5, price: "2.50")
            let alice = try await shop.signIn("alice@example.com")
            let bob = try await shop.signIn("bob@example.com")

            let placed = try await shop.order(product, quantity: 2, cookie: alice, key: "first")
            #expect(placed.status == 201, "\(placed.body)")
            let order = try JSONDecoder().decode(OrderEnvelope.self, from: Data(placed.body.utf8)).data
            #expect(order.total == "5.00")
            #expect(order.currency == "USD")
            // Placed: stock taken and committed; the post-processing (from the queue) confirms it shortly after.
            #expect(order.status == "placed")
            #expect(order.items.count == 1 && order.items[0].quantity == 2 && order.items[0].unitPrice == "2.50")
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 3)

            var shown = try await shop.send(.GET, "/api/v1/orders/\(order.id)", cookie: alice)
            for _ in 0..<200 where !shown.body.contains(#""status":"confirmed""#) {
                try await Task.sleep(for: .milliseconds(50))
                shown = try await shop.send(.GET, "/api/v1/orders/\(order.id)", cookie: alice)
            }
            #expect(shown.status == 200)
            #expect(
                shown.body
                    == placed.body.replacingOccurrences(of: #""status":"placed""#, with: #""status":"confirmed""#)
            )
            let listed = try await shop.send(.GET, "/api/v1/orders", cookie: alice)
            #expect(listed.status == 200)
            #expect(listed.body.contains(order.id) && listed.body.contains(#""totalItems":1"#))

            // Another user's order is as absent as a missing one; their list is empty.
            let hidden = try await shop.send(.GET, "/api/v1/orders/\(order.id)", cookie: bob)
            #expect(hidden.status == 404 && hidden.body.contains(#""code":"NOT_FOUND""#))
            #expect(try await shop.send(.GET, "/api/v1/orders", cookie: bob).body.contains(#""totalItems":0"#))
        }
    }

    @Test("orders need a session, an Idempotency-Key and valid lines")
    func badRequests() async throws {
        try await withOrderInstances(count: 1) { shop in
            let product = try await shop.insertProduct(stock: 5)
            let anonymous = try await shop.send(
                .POST,
                "/api/v1/orders",
                idempotencyKey: "k",
                body: #"{"items":[]}"#
            )
            #expect(anonymous.status == 401 && anonymous.body.contains(#""code":"UNAUTHORIZED""#))

            let cookie = try await shop.signIn("carol@example.com")
            let noKey = try await shop.send(.POST, "/api/v1/orders", cookie: cookie, body: #"{"items":[]}"#)
            #expect(noKey.status == 400 && noKey.body.contains(#""field":"Idempotency-Key""#))
            let badKey = try await shop.send(
                .POST,
                "/api/v1/orders",
                cookie: cookie,
                idempotencyKey: String(repeating: "x", count: 300),
                body: #"{"items":[]}"#
            )
            #expect(badKey.status == 400)

            let invalid = try await shop.send(
                .POST,
                "/api/v1/orders",
                cookie: cookie,
                idempotencyKey: "v1",
                body: #"{"items":[{"productId":"nope","quantity":0},{"quantity":2}]}"#
            )
            #expect(invalid.status == 422, "\(invalid.body)")
            for field in ["items[0].productId", "items[0].quantity", "items[1].productId"] {
                #expect(invalid.body.contains(#""field":"\#(field)""#), "\(field)")
            }
            let unknown = try await shop.order(UUID(), cookie: cookie, key: "v2")
            #expect(unknown.status == 422 && unknown.body.contains("no product has the id"))
            let malformed = try await shop.send(
                .POST,
                "/api/v1/orders",
                cookie: cookie,
                idempotencyKey: "v3",
                body: "{"
            )
            #expect(malformed.status == 400 && malformed.body.contains(#""code":"MALFORMED_JSON""#))
            // Nothing above took stock.
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 5)
        }
    }

    @Test(
        "short stock answers 409 OUT_OF_STOCK and takes nothing, even for the lines that had enough",
        arguments: StockStrategyKind.allCases
    )
    func outOfStockTakesNothing(strategy: StockStrategyKind) async throws {
        try await withOrderInstances(count: 1, strategy: strategy) { shop in
            let plenty = try await shop.insertProduct(stock: 10)
            let scarce = try await shop.insertProduct(stock: 1)
            let cookie = try await shop.signIn("dan@example.com")
            let body =
                #"{"items":[{"productId":"\#(plenty.uuidString)","quantity":3},{"productId":"\#(scarce.uuidString)","quantity":2}]}"#
            let reply = try await shop.send(
                .POST,
                "/api/v1/orders",
                cookie: cookie,
                idempotencyKey: "short",
                body: body
            )
            #expect(reply.status == 409, "\(reply.body)")
            #expect(reply.body.contains(#""code":"OUT_OF_STOCK""#))
            #expect(reply.headers["content-type"].first == "application/problem+json")
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(plenty)") == 10)
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(scarce)") == 1)
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 0)
        }
    }
}

extension OrdersTests {
    @Test("an admin's restock after a sell-out is what the next order sees", arguments: StockStrategyKind.allCases)
    func restockAfterSellOut(strategy: StockStrategyKind) async throws {
        try await withOrderInstances(count: 2, strategy: strategy) { shop in
            let product = try await shop.insertProduct(stock: 2)
            let buyer = try await shop.signIn("erin@example.com", instance: 0)
            let admin = try await shop.signIn("root@example.com", role: .admin, instance: 1)
            #expect(try await shop.order(product, quantity: 2, cookie: buyer, key: "first", instance: 0).status == 201)
            #expect(try await shop.order(product, cookie: buyer, key: "second", instance: 1).status == 409)

            let restock = try await shop.send(
                .PUT,
                "/api/v1/products/\(product.uuidString.lowercased())",
                instance: 1,
                cookie: admin,
                body: #"{"name":"Restocked","description":"","price":"2.50","currency":"USD","stock":7}"#
            )
            #expect(restock.status == 200, "\(restock.body)")
            // Both instances sell the new units at once, and exactly those.
            for attempt in 0..<7 {
                let reply = try await shop.order(product, cookie: buyer, key: "after-\(attempt)", instance: attempt % 2)
                #expect(reply.status == 201, "\(strategy) attempt \(attempt): \(reply.body)")
            }
            #expect(try await shop.order(product, cookie: buyer, key: "one-too-many", instance: 0).status == 409)
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 0)
        }
    }
}

extension OrdersTests {
    @Test("after an order, the cached product on another instance shows the new stock")
    func orderEvictsTheCachedProduct() async throws {
        try await withOrderInstances(count: 2) { shop in
            let product = try await shop.insertProduct(stock: 9)
            let path = "/api/v1/products/\(product.uuidString.lowercased())"
            let before = try await shop.send(.GET, path, instance: 1)
            #expect(before.body.contains(#""stock":9"#), "\(before.body)")
            // A second read is a cache hit on instance 1.
            #expect(try await shop.send(.GET, path, instance: 1).body.contains(#""stock":9"#))

            let cookie = try await shop.signIn("fay@example.com")
            #expect(try await shop.order(product, quantity: 4, cookie: cookie, key: "k", instance: 0).status == 201)
            let after = try await shop.send(.GET, path, instance: 1)
            #expect(after.body.contains(#""stock":5"#), "\(after.body)")
        }
    }
}

struct OrderEnvelope: Decodable {
    struct Order: Decodable {
        struct Item: Decodable {
            var productId: String
            var quantity: Int
            var unitPrice: String
        }
        var id: String
        var status: String
        var total: String
        var currency: String
        var items: [Item]
    }
    var data: Order
}
