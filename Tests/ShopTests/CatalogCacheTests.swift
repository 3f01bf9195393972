import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisClient
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Catalog through the cache")
struct CatalogCacheTests {
    static let mugUpdate =
        #"{"name":"Limited edition mug (blue)","description":"Now in blue.","price":"14.00","currency":"EUR","stock":9}"#

    @Test("product reads go through Redis: the first is a miss that loads, the next are hits")
    func hitAndMiss() async throws {
        try await withCatalogApps { clients, fixture in
            let client = clients[0]
            let first = try await client.product(mugID)
            #expect(first.name == "Limited edition mug")
            #expect(try await client.product(mugID) == first)
            #expect(try await client.product(mugID) == first)
            let stats = try await client.cacheStats(cookie: try await client.adminCookie())
            #expect(stats.enabled)
            #expect(stats.instance == "test-1")
            #expect(stats.circuit == "closed")
            let products = try #require(stats.namespace("products"))
            #expect(products.misses == 1)
            #expect(products.hits == 2)
            #expect(products.loads == 1)
            #expect(products.hitRatio == 0.6667)
            // The entry is in Redis under the configured prefix.
            let redis = RedisClient(configuration: fixture.configuration.redis)
            #expect(try await redis.exists(fixture.productKey(mugID)) == 1)
            await redis.shutdown()
        }
    }

    @Test("an admin evicts one product's entry or a whole namespace; the next read, on any instance, is a miss")
    func adminEviction() async throws {
        try await withCatalogApps(instances: 2) { clients, fixture in
            let admin = try await clients[0].adminCookie()
            _ = try await clients[0].product(mugID)
            let redis = RedisClient(configuration: fixture.configuration.redis)
            defer { Task { await redis.shutdown() } }
            #expect(try await redis.exists(fixture.productKey(mugID)) == 1)
            // One key: gone from Redis, so the other instance's next read loads it again.
            let one = try await clients[0].catalogRequest(
                .post,
                "/api/v1/admin/cache/products/evict",
                cookie: admin,
                json: #"{"key":"\#(mugID)"}"#
            )
            #expect(one.status == .ok, "\(one.text)")
            #expect(one.text.contains(#""outcome":"evicted""#) && one.text.contains(#""key":"\#(mugID)""#))
            #expect(try await redis.exists(fixture.productKey(mugID)) == 0)
            let before = try #require(try await clients[1].cacheStats(cookie: admin).namespace("products"))
            _ = try await clients[1].product(mugID)
            let after = try #require(try await clients[1].cacheStats(cookie: admin).namespace("products"))
            #expect(after.misses == before.misses + 1)
            // The namespace: every entry is unreachable at once (a new epoch), on every instance.
            _ = try await clients[0].product(mugID)
            let all = try await clients[0].catalogRequest(.post, "/api/v1/admin/cache/products/evict", cookie: admin)
            #expect(all.status == .ok && all.text.contains(#""key":null"#), "\(all.text)")
            let beforeAll = try #require(try await clients[1].cacheStats(cookie: admin).namespace("products"))
            _ = try await clients[1].product(mugID)
            let afterAll = try #require(try await clients[1].cacheStats(cookie: admin).namespace("products"))
            #expect(afterAll.misses == beforeAll.misses + 1)
            // Refusals.
            let unknown = try await clients[0].catalogRequest(.post, "/api/v1/admin/cache/nope/evict", cookie: admin)
            #expect(unknown.status == .notFound)
            let blank = try await clients[0].catalogRequest(
                .post,
                "/api/v1/admin/cache/products/evict",
                cookie: admin,
                json: #"{"key":""}"#
            )
            #expect(blank.status == .unprocessableContent, "\(blank.text)")
            let user = try await clients[0].userCookie()
            #expect(
                try await clients[0].catalogRequest(.post, "/api/v1/admin/cache/products/evict", cookie: user).status
                    == .forbidden
            )
        }
    }

    @Test("an update on one instance is visible on another instance as soon as the write returns")
    func updateVisibleEverywhere() async throws {
        try await withCatalogApps(instances: 2) { clients, _ in
            let (a, b) = (clients[0], clients[1])
            // Both instances have the mug and the first page cached.
            #expect(try await a.product(mugID).name == "Limited edition mug")
            #expect(try await b.product(mugID).name == "Limited edition mug")
            #expect(try await b.product(mugID).name == "Limited edition mug")
            let pageBefore = try await b.catalogRequest(.get, "/api/v1/products?size=100")
            #expect(pageBefore.text.contains("\"Limited edition mug\""))

            let admin = try await a.adminCookie()
            let update = try await a.catalogRequest(
                .put,
                "/api/v1/products/\(mugID)",
                cookie: admin,
                json: Self.mugUpdate
            )
            #expect(update.status == .ok, "\(update.text)")
            let updated = try update.json(Envelope1<ProductBody>.self).data
            #expect(updated.name == "Limited edition mug (blue)")
            #expect(updated.price == "14.00")
            #expect(updated.currency == "EUR")
            #expect(updated.stock == 9)
            #expect(updated.updatedAt != "2026-01-01T00:00:00Z")

            // Immediately, on the other instance: the item and the list.
            #expect(try await b.product(mugID) == updated)
            let pageAfter = try await b.catalogRequest(.get, "/api/v1/products?size=100")
            #expect(pageAfter.text.contains("\"Limited edition mug (blue)\""))
            #expect(!pageAfter.text.contains("\"Limited edition mug\""))
            #expect(try await a.product(mugID) == updated)
        }
    }

    @Test("a created product is in the list at once; after a delete it is gone from item and list")
    func createAndDelete() async throws {
        try await withCatalogApps(instances: 2) { clients, _ in
            let (a, b) = (clients[0], clients[1])
            struct Page: Decodable {
                var data: [ProductBody]
                var meta: PageMeta
            }
            let before = try await b.catalogRequest(.get, "/api/v1/products").json(Page.self)
            #expect(before.meta.totalItems == 12)
            let admin = try await a.adminCookie()
            let created = try await a.catalogRequest(
                .post,
                "/api/v1/products",
                cookie: admin,
                json: #"{"name":"Cupping spoon","price":"7.90","currency":"USD","stock":30}"#
            )
            #expect(created.status == .created, "\(created.text)")
            let product = try created.json(Envelope1<ProductBody>.self).data
            #expect(created.headers[.location] == "/api/v1/products/\(product.id)")
            #expect(product.description == "")
            #expect(product.id == product.id.lowercased())

            let after = try await b.catalogRequest(.get, "/api/v1/products").json(Page.self)
            #expect(after.meta.totalItems == 13)
            #expect(after.data.contains(product))
            #expect(try await b.product(product.id) == product)

            let deleted = try await a.catalogRequest(.delete, "/api/v1/products/\(product.id)", cookie: admin)
            #expect(deleted.status == .noContent)
            #expect(deleted.body.readableBytes == 0)
            let gone = try await b.catalogRequest(.get, "/api/v1/products/\(product.id)")
            #expect(gone.status == .notFound)
            #expect(try gone.problem().code == "NOT_FOUND")
            #expect(try await b.catalogRequest(.get, "/api/v1/products").json(Page.self).meta.totalItems == 12)
            let again = try await a.catalogRequest(.delete, "/api/v1/products/\(product.id)", cookie: admin)
            #expect(again.status == .notFound)
        }
    }

    @Test("a product in an order cannot be deleted: 409 CONFLICT, and it stays")
    func deleteInUse() async throws {
        try await withCatalogApps { clients, fixture in
            try await withClient(fixture.database) { client in
                try await client.query(
                    """
                    INSERT INTO orders (id, user_id, total, currency)
                    VALUES ('7e57a000-0000-4000-8000-000000000001', '5eed0000-0000-4000-8000-000000000002', 12.50, 'USD')
                    """
                )
                try await client.query(
                    """
                    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
                    VALUES ('7e57a000-0000-4000-8000-000000000001', \(UUID(uuidString: mugID)!), 1, 12.50)
                    """
                )
            }
            let admin = try await clients[0].adminCookie()
            let response = try await clients[0].catalogRequest(.delete, "/api/v1/products/\(mugID)", cookie: admin)
            #expect(response.status == .conflict)
            #expect(try response.problem().code == "CONFLICT")
            #expect(try await clients[0].product(mugID).name == "Limited edition mug")
        }
    }

    @Test("unknown and malformed ids on writes: 404 and 400 in the template")
    func unknownIDs() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            let missing = "0b5c4b1e-7d1f-4c55-9f4e-0000000000ff"
            let put = try await client.catalogRequest(
                .put,
                "/api/v1/products/\(missing)",
                cookie: admin,
                json: Self.mugUpdate
            )
            #expect(put.status == .notFound)
            #expect(try put.problem().detail == "No product has the id \(missing).")
            let bad = try await client.catalogRequest(
                .put,
                "/api/v1/products/nope",
                cookie: admin,
                json: Self.mugUpdate
            )
            #expect(bad.status == .badRequest)
            #expect(try bad.problem().errors?.map(\.field) == ["id"])
        }
    }

    @Test("with CACHE_ENABLED=false reads and writes work without the cache, and the stats say so")
    func disabled() async throws {
        let disable: @Sendable (inout ShopConfiguration) -> Void = { $0.cache.enabled = false }
        try await withCatalogApps(configure: disable) { clients, fixture in
            let client = clients[0]
            #expect(try await client.product(mugID).name == "Limited edition mug")
            let admin = try await client.adminCookie()
            let update = try await client.catalogRequest(
                .put,
                "/api/v1/products/\(mugID)",
                cookie: admin,
                json: Self.mugUpdate
            )
            #expect(update.status == .ok)
            #expect(try await client.product(mugID).name == "Limited edition mug (blue)")
            let stats = try await client.cacheStats(cookie: admin)
            #expect(!stats.enabled)
            #expect(stats.circuit == nil)
            #expect(stats.namespaces.isEmpty)
            let redis = RedisClient(configuration: fixture.configuration.redis)
            #expect(try await redis.exists(fixture.productKey(mugID)) == 0)
            await redis.shutdown()
        }
    }

    @Test("the stats example in docs/api/success-response.md is what the service answers")
    func statsDocumented() async throws {
        let document = try DocumentationTests.document("success-response.md")
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            for _ in 0..<3 { _ = try await client.product(mugID) }
            let admin = try await client.adminCookie()
            let response = try await client.catalogRequest(.get, "/api/v1/admin/cache/stats", cookie: admin)
            let body = response.text.replacingOccurrences(of: #""instance":"test-1""#, with: #""instance":"shop-1""#)
            #expect(document.contains("\n" + body + "\n"), "\(body)")
        }
    }

    @Test("the stats answer has the documented shape")
    func statsShape() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            let response = try await client.catalogRequest(.get, "/api/v1/admin/cache/stats", cookie: admin)
            #expect(response.status == .ok)
            #expect(
                response.text.hasPrefix(
                    #"{"data":{"circuit":"closed","circuitOpenings":0,"deferredEvictions":0,"enabled":true,"instance":"test-1","namespaces":[{"bypassed":0,"#
                )
            )
            #expect(response.text.contains(#""hitRatio":null"#))
            #expect(response.text.hasSuffix(#"},"meta":{}}"#))
        }
    }
}
