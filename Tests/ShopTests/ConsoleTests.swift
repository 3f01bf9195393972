import Foundation
import Logging
import RedisClient
import RedisLock
import StreamQueue
import Testing

@testable import Shop

/// The operations console (`/admin`): who gets which page, and the console in a real headless Chromium.
@Suite("Operations console", .serialized)
struct ConsoleTests {
    static let queueTweak = ConfigurationTweak.with { configuration in
        configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
        configuration.queue.maxAttempts = 2
        // The dashboard's figures reach Redis within half a second, not ten.
        configuration.dashboardWriteInterval = .milliseconds(500)
    }

    @Test("anonymous callers get the sign-in page, users a 403 page, admins the console; every page forbids framing")
    func whoSeesWhat() async throws {
        try await withOrderInstances(count: 1, configure: Self.queueTweak) { shop in
            let admin = try await shop.signIn("admin@console.test", role: .admin)
            let user = try await shop.signIn("user@console.test")
            let anonymous = try await shop.send(.GET, "/admin")
            #expect(anonymous.status == 200)
            #expect(anonymous.body.contains(#"id="sign-in""#))
            #expect(!anonymous.body.contains("Instances</a>"), "no console for anonymous callers")
            let forbidden = try await shop.send(.GET, "/admin/jobs", cookie: user)
            #expect(forbidden.status == 403)
            #expect(forbidden.body.contains("user@console.test") && forbidden.body.contains("needs the admin role"))
            for page in ["", "/instances", "/jobs", "/queues", "/caches"] {
                let reply = try await shop.send(.GET, "/admin" + page, cookie: admin)
                #expect(reply.status == 200, "\(page)")
                #expect(reply.body.contains(#"<nav aria-label="Console pages">"#), "\(page)")
                #expect(reply.headers["content-type"].first == "text/html; charset=utf-8")
                let policy = try #require(reply.headers["content-security-policy"].first)
                #expect(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"))
                #expect(!reply.body.contains("<script>"), "no inline script")
            }
            let missing = try await shop.send(.GET, "/admin/nothing-here", cookie: admin)
            #expect(missing.status == 404 && missing.body.contains("no such page"))
            let script = try await shop.send(.GET, "/admin/assets/console.js")
            #expect(script.status == 200 && script.headers["content-type"].first == "text/javascript; charset=utf-8")
            #expect(!script.body.contains("innerHTML"), "the script never parses API data as HTML")
            let style = try await shop.send(.GET, "/admin/assets/console.css")
            #expect(style.status == 200 && style.headers["content-type"].first == "text/css; charset=utf-8")
            // Characters that mean something in HTML are shown as text.
            let quoting = try await shop.signIn("o'brien&co@console.test")
            let page = try await shop.send(.GET, "/admin", cookie: quoting)
            #expect(page.status == 403 && page.body.contains("o&#39;brien&amp;co@console.test"), "\(page.body)")
        }
    }

    /// Headless Chromium through Selenium (`scripts/console-browser.py`), against a live service with real data: a
    /// dead letter of its own and the scheduler running. `CONSOLE_SCREENSHOTS=<dir>` keeps the screenshots
    /// (`make console-screenshots`); otherwise they go to a temporary folder, removed afterwards.
    @Test(.timeLimit(.minutes(10)))
    func theConsoleInARealBrowser() async throws {
        try await withOrderInstances(count: 1, configure: Self.queueTweak) { shop in
            _ = try await shop.signIn("admin@browser.test", role: .admin)
            let user = try await shop.signIn("user@browser.test")
            let admin = try await shop.signIn("admin2@browser.test", role: .admin)
            // A poison message: the post-processing cannot decode it, so it ends in the dead letters.
            var settings = StreamQueueConfiguration()
            settings.keyPrefix = shop.configuration.queue.keyPrefix
            let queue = StreamQueue(client: shop.redis, configuration: settings, logger: Logger(label: "test"))
            _ = try await queue.publish(
                OutgoingMessage(id: "poison-console", type: "order.placed", payload: "not json"),
                to: "orders"
            )
            var deadLetter: String?
            for _ in 0..<300 where deadLetter == nil {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                if let range = reply.body.range(of: #""id":""#) {
                    deadLetter = String(reply.body[range.upperBound...].prefix { $0 != "\"" })
                } else {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let letter = try #require(deadLetter)
            // A stock lock held by someone else, for the Locks page.
            var lockSettings = RedisLockConfiguration()
            lockSettings.keyPrefix = shop.configuration.orders.keyPrefix + "lock:"
            lockSettings.owner = "console-test"
            let locks = RedisLocks(client: shop.redis, configuration: lockSettings, logger: Logger(label: "test"))
            let held = try #require(try await locks.tryAcquire("stock:console", lease: .seconds(300)))
            // An order, so the dashboard has one to chart, whose post-processing fails until the test lifts a rule
            // that refuses its confirmation (a CHECK the test adds to its own database): its event ends in the dead
            // letters, and the browser's replay confirms it.
            let buyer = try await shop.signIn("buyer@browser.test")
            let product = try await shop.insertProduct(stock: 5)
            _ = try await withClient(shop.database) { client in
                try await client.query(
                    "ALTER TABLE orders ADD CONSTRAINT console_test_holds_confirmation CHECK (status <> 'confirmed') NOT VALID"
                )
            }
            let placed = try await shop.order(product, cookie: buyer, key: "console-order")
            #expect(placed.status == 201)
            let orderID = try #require(
                placed.body.range(of: #""id":""#).map { String(placed.body[$0.upperBound...].prefix { $0 != "\"" }) }
            )
            var orderLetter: (id: String, message: String)?
            for _ in 0..<300 where orderLetter == nil {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                struct Letters: Decodable {
                    struct Letter: Decodable {
                        var id: String
                        var messageId: String?
                        var payload: String?
                    }
                    var data: [Letter]
                }
                let letters = try JSONDecoder().decode(Letters.self, from: Data(reply.body.utf8)).data
                if let found = letters.first(where: { $0.payload?.lowercased().contains(orderID.lowercased()) == true }
                ),
                    let message = found.messageId
                {
                    orderLetter = (found.id, message)
                } else {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let lettersNow = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin).body
            let orderDeadLetter = try #require(orderLetter, "order \(orderID); dead letters: \(lettersNow)")
            _ = try await withClient(shop.database) { client in
                try await client.query("ALTER TABLE orders DROP CONSTRAINT console_test_holds_confirmation")
            }
            // Two reads of it: the products namespace's figures on the Caches page have at least the second's hit.
            for _ in 0..<2 { #expect(try await shop.send(.GET, "/api/v1/products/\(product)").status == 200) }

            let kept = ProcessInfo.processInfo.environment["CONSOLE_SCREENSHOTS"].flatMap { $0.isEmpty ? nil : $0 }
            let folder =
                kept
                ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                    "console-\(UUID().uuidString.prefix(8))"
                ).path
            defer { if kept == nil { try? FileManager.default.removeItem(atPath: folder) } }
            let script = OpenAPIConformance.root.appendingPathComponent("scripts/console-browser.py")
            let (status, output) = try await Self.run(
                [
                    "python3", script.path, "--base", "http://127.0.0.1:\(shop.ports[0])",
                    "--admin", "admin@browser.test", "--user", "user@browser.test",
                    "--password", "correct horse battery", "--instance", "orders-1",
                    "--dead-letter", letter, "--order-dead-letter", orderDeadLetter.id,
                    "--order-message", orderDeadLetter.message, "--lock", "stock:console", "--lock-holder",
                    "console-test",
                    "--screenshots", folder,
                ]
            )
            #expect(status == 0, "\(output)")
            let shots = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            #expect(
                Set(shots).isSuperset(of: [
                    "sign-in.png", "forbidden.png", "dashboard.png", "instances.png", "jobs.png", "queues.png",
                    "caches.png", "locks.png", "sessions.png",
                ]),
                "\(shots)"
            )
            // What the browser did happened: the replayed order event confirmed the order, the manual run is
            // recorded, the dead letters left the list.
            let order = try await shop.send(.GET, "/api/v1/orders/\(orderID)", cookie: buyer)
            #expect(order.body.contains(#""status":"confirmed""#), "\(order.body)")
            let jobs = try await shop.send(.GET, "/api/v1/admin/jobs", cookie: admin)
            #expect(jobs.body.contains(#""manual":true"#), "\(jobs.body)")
            let letters = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
            #expect(!letters.body.contains(#""id":"\#(letter)""#))
            // The browser deleted what the replayed poison became: no dead letter is left.
            #expect(letters.body.contains(#""data":[]"#), "\(letters.body)")
            try await held.release()
            // The session the browser revoked no longer signs the user in.
            #expect(try await shop.send(.GET, "/api/v1/me", cookie: user).status == 401)
            // The figures the charts drew are the fleet's, from Redis: the order, the dead letter, the requests.
            let snapshot = try await shop.send(.GET, "/api/v1/admin/dashboard?minutes=10", cookie: admin)
            struct Answer: Decodable { var data: DashboardSnapshot }
            let minutes = try JSONCoding.decoder.decode(Answer.self, from: Data(snapshot.body.utf8)).data.minutes
            #expect(minutes.count == 10)
            #expect(minutes.map(\.ordersPlaced).reduce(0, +) == 1, "\(snapshot.body)")
            // Once before the replay, and maybe again after it (the poison still cannot be decoded).
            #expect(minutes.map(\.deadLettered).reduce(0, +) >= 1, "\(snapshot.body)")
            #expect(minutes.map(\.requests).reduce(0, +) > 5, "\(snapshot.body)")
            #expect(minutes.contains { $0.p99Milliseconds != nil && $0.instances == 1 }, "\(snapshot.body)")
        }
    }

    /// Runs a command off the cooperative pool; its exit status and what it wrote.
    static func run(_ arguments: [String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = await catalogOffPool { output.fileHandleForReading.readDataToEndOfFile() }
        await catalogOffPool { process.waitUntilExit() }
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
