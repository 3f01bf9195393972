import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisClient
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Input nobody planned for that used to reach a `500`: text PostgreSQL refuses or counts differently, totals
/// past the column, stream ids Redis refuses. Each answers a `4xx` in the template now and changes nothing.
@Suite("Hostile input: 4xx in the template, never a 500")
struct HostileInputTests {
    /// `e` followed by U+0301 COMBINING ACUTE ACCENT: one grapheme cluster, two code points.
    static let decomposedE = "e\u{301}"
    /// A family emoji joined with ZWJ: one grapheme cluster, five code points.
    static let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"

    @Test("sign-in and registration with U+0000 or control characters in the e-mail: 401/422, never a lookup")
    func nulInEmail() async throws {
        try await withAccountsApp { client, fixture in
            try await fixture.insertDemoUser()
            for email in ["demo\u{0}@example.com", "\u{0}", "demo@example.com\u{0}", "de\u{7}mo@example.com"] {
                let body = try Self.json(["email": email, "password": "correct horse battery"])
                let login = try await client.post("/api/v1/auth/login", json: body)
                #expect(login.status == .unauthorized, "\(login.text)")
                #expect(try login.problem().code == "INVALID_CREDENTIALS")
                let register = try await client.post("/api/v1/auth/register", json: body)
                #expect(register.status == .unprocessableContent, "\(register.text)")
                #expect(try register.problem().code == "VALIDATION_FAILED")
            }
        }
    }

    @Test("broadcast title and body: NUL, control characters and code-point lengths are validation errors")
    func broadcastText() async throws {
        try await withAccountsApp { client, fixture in
            _ = try await fixture.insertUser(email: "ops@example.com", password: "correct horse battery", role: .admin)
            let admin = try await client.login("ops@example.com", "correct horse battery")
            let cases: [(title: String, body: String, expected: String)] = [
                ("a\u{0}b", "", "title:INVALID_FORMAT"),
                ("ok", "line\u{0}", "body:INVALID_FORMAT"),
                ("bell\u{7}", "", "title:INVALID_FORMAT"),
                ("tab\tin a title", "", "title:INVALID_FORMAT"),
                ("ok", "esc\u{1B}[31m", "body:INVALID_FORMAT"),
                ("c1\u{85}x", "", "title:INVALID_FORMAT"),
                // 150 grapheme clusters but 300 code points: the CHECK counts code points.
                (String(repeating: Self.decomposedE, count: 150), "", "title:TOO_LONG"),
                ("ok", String(repeating: Self.family, count: 401), "body:TOO_LONG"),
                ("   ", "", "title:TOO_SHORT"),
            ]
            for (title, body, expected) in cases {
                let response = try await client.post(
                    "/api/v1/admin/notifications",
                    json: try Self.json(["title": title, "body": body]),
                    cookie: admin
                )
                #expect(response.status == .unprocessableContent, "\(expected): \(response.text)")
                let problem = try response.problem()
                #expect(problem.code == "VALIDATION_FAILED")
                #expect(problem.errors?.map { "\($0.field):\($0.code)" } == [expected], "\(response.text)")
            }
            let stored = try await withClient(fixture.database) { client in
                var count = -1
                for try await value in try await client.query("SELECT count(*)::int FROM notifications").decode(
                    Int.self
                ) {
                    count = value
                }
                return count
            }
            #expect(stored == 0)
            // At the limits, in code points, with line breaks in the body: accepted and stored as sent.
            let title = String(repeating: Self.decomposedE, count: 100)
            let body = String(repeating: Self.family, count: 399) + "\n\t."
            let accepted = try await client.post(
                "/api/v1/admin/notifications",
                json: try Self.json(["title": " " + title + " ", "body": body]),
                cookie: admin
            )
            #expect(accepted.status == .accepted, "\(accepted.text)")
        }
    }

    @Test("product text: NUL in the description and names over 200 code points are validation errors")
    func productText() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            let cases: [(name: String, description: String, expected: String)] = [
                ("a", "x\u{0}y", "description:INVALID_FORMAT"),
                (String(repeating: Self.decomposedE, count: 101), "", "name:TOO_LONG"),
                ("a", String(repeating: Self.family, count: 1001), "description:TOO_LONG"),
            ]
            for (name, description, expected) in cases {
                let body =
                    String(
                        try Self.json(["name": name, "description": description, "price": "1.00", "currency": "USD"])
                            .dropLast()
                    ) + #","stock":1}"#
                let response = try await client.catalogRequest(.post, "/api/v1/products", cookie: admin, json: body)
                #expect(response.status == .unprocessableContent, "\(expected): \(response.text)")
                #expect(try response.problem().errors?.map { "\($0.field):\($0.code)" } == [expected])
            }
        }
    }

    @Test("an order whose total is past numeric(12,2) is a 422 every time, and takes no stock")
    func totalPastTheColumn() async throws {
        try await withOrderInstances(count: 1) { fixture in
            let cookie = try await fixture.signIn("big@example.com")
            let product = try await fixture.insertProduct(stock: 5_000, price: "10000000.00")
            // The same key three times: the claim is released after a refusal, and every retry is refused the
            // same way (not a 500 the first time and a conflict after).
            for _ in 0..<3 {
                let reply = try await fixture.order(product, quantity: 1000, cookie: cookie, key: "total-overflow")
                #expect(reply.status == 422, "\(reply.body)")
                #expect(reply.body.contains(#""code":"VALIDATION_FAILED""#), "\(reply.body)")
                #expect(reply.body.contains("9999999999.99"), "\(reply.body)")
            }
            #expect(try await fixture.scalar("SELECT count(*)::int FROM orders") == 0)
            #expect(try await fixture.scalar("SELECT stock FROM products WHERE id = \(product)") == 5_000)
            // One unit under the limit is a normal order.
            let fits = try await fixture.order(product, quantity: 999, cookie: cookie, key: "total-fits")
            #expect(fits.status == 201, "\(fits.body)")
        }
    }

    @Test("100 lines of one product are merged, and the merged line obeys the 1,000-unit limit")
    func mergedLinesPastTheLimit() async throws {
        try await withOrderInstances(count: 1) { fixture in
            let cookie = try await fixture.signIn("lines@example.com")
            let product = try await fixture.insertProduct(stock: 1_000_000, price: "100000.00")
            let line = #"{"productId":"\#(product.uuidString.lowercased())","quantity":1000}"#
            let body = #"{"items":[\#(Array(repeating: line, count: 100).joined(separator: ","))]}"#
            let reply = try await fixture.send(.POST, "/api/v1/orders", cookie: cookie, idempotencyKey: "m", body: body)
            #expect(reply.status == 422, "\(reply.body)")
            #expect(reply.body.contains(#""field":"items""#) && reply.body.contains("OUT_OF_RANGE"), "\(reply.body)")
            #expect(try await fixture.scalar("SELECT stock FROM products WHERE id = \(product)") == 1_000_000)
            #expect(try await fixture.scalar("SELECT count(*)::int FROM orders") == 0)
        }
    }

    @Test("dead-letter ids with Unicode digits or parts past 64 bits are 400 INVALID_PARAMETER, not Redis errors")
    func deadLetterIDs() async throws {
        #expect(QueuesAdminController.isEntryID("1700000000000-0"))
        #expect(QueuesAdminController.isEntryID("18446744073709551615-18446744073709551615"))
        for id in [
            "\u{661}\u{662}-\u{663}", "1\u{B2}-0", "18446744073709551616-0", "1-99999999999999999999", "-1", "1-",
            "1--1", "+1-0", " 1-0", "1-0 ",
        ] {
            #expect(!QueuesAdminController.isEntryID(id), "\(id)")
        }
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            for id in ["%D9%A1%D9%A2-%D9%A3", "99999999999999999999-0", "1-18446744073709551616"] {
                let replay = try await client.catalogRequest(
                    .post,
                    "/api/v1/admin/queues/orders/dead-letters/\(id)/replay",
                    cookie: admin
                )
                #expect(replay.status == .badRequest, "\(id): \(replay.text)")
                #expect(try replay.problem().code == "INVALID_PARAMETER")
                let list = try await client.catalogRequest(
                    .get,
                    "/api/v1/admin/queues/orders/dead-letters?after=\(id)",
                    cookie: admin
                )
                #expect(list.status == .badRequest, "\(id): \(list.text)")
            }
            // The greatest id is valid, and nothing comes after it (Redis refuses an exclusive start past it).
            let last = try await client.catalogRequest(
                .get,
                "/api/v1/admin/queues/orders/dead-letters?after=18446744073709551615-18446744073709551615",
                cookie: admin
            )
            #expect(last.status == .ok, "\(last.text)")
            #expect(last.text.contains(#""data":[]"#), "\(last.text)")
        }
    }

    static func json(_ members: [String: String]) throws -> String {
        String(decoding: try JSONEncoder().encode(members), as: UTF8.self)
    }
}
