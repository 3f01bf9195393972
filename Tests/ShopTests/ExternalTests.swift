import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import RedisClient
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The simulated provider, running for a test.
struct ProviderFixture: Sendable {
    let port: Int
    let http: HTTPClient

    var url: String { "http://127.0.0.1:\(self.port)" }

    /// Replaces the provider's settings.
    func set(_ settings: ProviderSettings) async throws {
        var request = HTTPClientRequest(url: "\(self.url)/v1/control")
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(settings)))
        let response = try await self.http.execute(request, timeout: .seconds(10))
        #expect(response.status == .ok)
        _ = try await response.body.collect(upTo: 1 << 16)
    }

    func stats() async throws -> ProviderStats {
        let response = try await self.http.execute(
            HTTPClientRequest(url: "\(self.url)/v1/control"),
            timeout: .seconds(10)
        )
        struct Control: Decodable { var stats: ProviderStats }
        return try JSONDecoder().decode(
            Control.self,
            from: Data(buffer: try await response.body.collect(upTo: 1 << 16))
        ).stats
    }
}

/// Runs the simulated provider on a free port for `body`.
func withProvider<T: Sendable>(
    secret: String = PaymentsConfiguration.defaultWebhookSecret,
    _ body: @escaping @Sendable (ProviderFixture) async throws -> T
) async throws -> T {
    let app = buildProviderApplication(host: "127.0.0.1", port: 0, webhookSecret: secret, logger: TestServers.logger)
    return try await app.test(.live) { client in
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await body(ProviderFixture(port: try #require(client.port), http: http))
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

@Suite("External APIs: rates and payments")
struct ExternalTests {
    static func tweak(
        _ provider: ProviderFixture,
        _ extra: @escaping @Sendable (inout ShopConfiguration) -> Void = { _ in }
    ) -> ConfigurationTweak {
        let url = provider.url
        return .with { configuration in
            configuration.rates.providerURL = url
            configuration.payments.providerURL = url
            configuration.rates.attemptTimeout = .milliseconds(300)
            configuration.rates.breakerOpenDuration = .seconds(1)
            configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
            configuration.notifications.channel = String(
                (configuration.accounts.sessionKeyPrefix + "notify").prefix(64)
            )
            extra(&configuration)
        }
    }

    @Test func ratesAreCachedServedStaleWhenTheProviderIsDownAndTheBreakerFailsFast() async throws {
        try await withProvider { provider in
            try await withOrderInstances(count: 1, configure: Self.tweak(provider) { $0.rates.cacheTTL = .seconds(1) })
            {
                shop in
                let first = try await shop.send(.GET, "/api/v1/rates/USD/EUR")
                #expect(first.status == 200, "\(first.body)")
                #expect(first.body.contains(#""rate":"0.920000""#) && first.body.contains(#""stale":false"#))
                _ = try await shop.send(.GET, "/api/v1/rates/usd/eur")
                #expect(try await provider.stats().rateRequests == 1, "the second answer came from the cache")

                // The provider goes down. A pair never fetched has no fallback: 503 with the template.
                var down = ProviderSettings()
                down.outage = true
                try await provider.set(down)
                let missing = try await shop.send(.GET, "/api/v1/rates/USD/JPY")
                #expect(missing.status == 503 && missing.body.contains(#""code":"PROVIDER_UNAVAILABLE""#))
                #expect(missing.headers["retry-after"].first != nil)
                // Once the cached rate expired, the last good one is served, marked stale.
                try await Task.sleep(for: .milliseconds(1200))
                let stale = try await shop.send(.GET, "/api/v1/rates/USD/EUR")
                #expect(stale.status == 200 && stale.body.contains(#""stale":true"#) && stale.body.contains("0.920000"))
                // Failures open the breaker; from then on lookups do not reach the provider at all.
                for _ in 0..<6 { _ = try await shop.send(.GET, "/api/v1/rates/USD/CHF") }
                let callsWhenOpen = try await provider.stats().rateRequests
                for _ in 0..<10 {
                    let refused = try await shop.send(.GET, "/api/v1/rates/USD/CHF")
                    #expect(refused.status == 503)
                }
                #expect(try await provider.stats().rateRequests == callsWhenOpen, "an open breaker fails fast")

                // The provider recovers; after the open period one trial goes through and closes the breaker.
                try await provider.set(ProviderSettings())
                try await Task.sleep(for: .milliseconds(1200))
                let recovered = try await shop.send(.GET, "/api/v1/rates/USD/CHF")
                #expect(recovered.status == 200 && recovered.body.contains(#""rate":"0.880000""#), "\(recovered.body)")
                #expect(try await shop.send(.GET, "/api/v1/rates/USD/KRW").status == 200)
                // Both lookups reached the provider (the breaker is closed). On a loaded machine an attempt can outlast
                // its 300 ms timeout and be retried, so each lookup is one to `maxAttempts` requests.
                let afterRecovery = try await provider.stats().rateRequests
                let attempts = ShopConfiguration().rates.maxAttempts
                #expect(
                    (callsWhenOpen + 2...callsWhenOpen + 2 * attempts).contains(afterRecovery),
                    "\(afterRecovery - callsWhenOpen) requests for two lookups"
                )

                // Bad codes are the caller's problem.
                let bad = try await shop.send(.GET, "/api/v1/rates/USD/XYZ")
                #expect(bad.status == 400 && bad.body.contains(#""field":"quote""#))
            }
        }
    }

    @Test func aProductShowsItsPriceConverted() async throws {
        try await withProvider { provider in
            try await withOrderInstances(count: 1, configure: Self.tweak(provider)) { shop in
                let product = try await shop.insertProduct(stock: 3, price: "12.50")
                let path = "/api/v1/products/\(product.uuidString.lowercased())"
                let converted = try await shop.send(.GET, path + "?currency=EUR")
                #expect(converted.status == 200, "\(converted.body)")
                #expect(converted.body.contains(#""converted":{"asOf":"#))
                #expect(converted.body.contains(#""currency":"EUR","price":"11.50","rate":"0.920000","stale":false}"#))
                #expect(converted.body.contains(#""price":"12.50""#))
                let same = try await shop.send(.GET, path + "?currency=USD")
                #expect(same.body.contains(#""price":"12.50","rate":"1.000000""#))
                let bad = try await shop.send(.GET, path + "?currency=euro")
                #expect(bad.status == 400 && bad.body.contains(#""field":"currency""#))
                // Without the parameter the answer is the plain product.
                #expect(try await shop.send(.GET, path).body.contains("converted") == false)
            }
        }
    }

    @Test func payingAnOrderGoesThroughTheProviderAndItsSignedWebhooks() async throws {
        try await withProvider { provider in
            // The provider calls back the host the pay request was sent to (no PAYMENTS_CALLBACK_URL).
            try await withOrderInstances(count: 1, configure: Self.tweak(provider)) { shop in
                let buyer = try await shop.signIn("payer@external.test")
                let product = try await shop.insertProduct(stock: 5, price: "4.00")
                let order = try await shop.order(product, quantity: 2, cookie: buyer, key: "pay-1")
                let orderID = try JSONDecoder().decode(OrderEnvelope.self, from: Data(order.body.utf8)).data.id
                let paid = try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: buyer)
                #expect(paid.status == 202, "\(paid.body)")
                #expect(paid.body.contains(#""amount":"8.00""#) && paid.body.contains(#""providerPaymentId":"pay_"#))
                // The provider's webhooks arrive, are queued, and the consumer applies them.
                var status = ""
                for _ in 0..<200 {
                    let shown = try await shop.send(.GET, "/api/v1/orders/\(orderID)", cookie: buyer)
                    if shown.body.contains(#""status":"paid""#) {
                        status = "paid"
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(status == "paid")
                let payments = try await shop.send(.GET, "/api/v1/orders/\(orderID)/payments", cookie: buyer)
                #expect(payments.body.contains(#""status":"succeeded""#))
                let inbox = try await shop.send(.GET, "/api/v1/notifications", cookie: buyer)
                #expect(inbox.body.contains(#""kind":"payment.succeeded""#))
                let again = try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: buyer)
                #expect(again.status == 409 && again.body.contains(#""code":"ORDER_ALREADY_PAID""#))
                #expect(try await provider.stats().webhooksAccepted == 2)
                // Someone else's order is not theirs to pay.
                let other = try await shop.signIn("other@external.test")
                #expect(try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: other).status == 404)
            }
        }
    }

    @Test func providerDownWhenPayingAnswers503AndARetryChargesOnce() async throws {
        try await withProvider { provider in
            try await withOrderInstances(count: 1, configure: Self.tweak(provider)) { shop in
                let buyer = try await shop.signIn("retry@external.test")
                let product = try await shop.insertProduct(stock: 5, price: "1.00")
                let order = try await shop.order(product, quantity: 1, cookie: buyer, key: "r-1")
                let orderID = try JSONDecoder().decode(OrderEnvelope.self, from: Data(order.body.utf8)).data.id
                var down = ProviderSettings()
                down.outage = true
                try await provider.set(down)
                let failed = try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: buyer)
                #expect(failed.status == 503 && failed.body.contains(#""code":"PROVIDER_UNAVAILABLE""#))
                try await provider.set(ProviderSettings())
                let retried = try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: buyer)
                #expect(retried.status == 202, "\(retried.body)")
                let again = try await shop.send(.POST, "/api/v1/orders/\(orderID)/pay", cookie: buyer)
                #expect(again.status == 202)
                // One payment row, created once at the provider (the same idempotency key every time).
                let payments = try await shop.send(.GET, "/api/v1/orders/\(orderID)/payments", cookie: buyer)
                #expect(payments.body.components(separatedBy: #""id":"#).count == 2)
            }
        }
    }
}

/// Webhooks sent by the test itself, signed (or not) with the shared secret.
@Suite("Payment webhooks")
struct PaymentWebhookTests {
    static let secret = PaymentsConfiguration.defaultWebhookSecret

    static func event(_ id: String, _ type: String, payment: String, order: UUID) -> String {
        #"{"created":0,"data":{"amount":"5.00","currency":"USD","orderId":"\#(order.uuidString.lowercased())","paymentId":"\#(payment)","status":"x"},"id":"\#(id)","type":"\#(type)"}"#
    }

    static func post(_ shop: OrdersFixture, _ body: String, signature: String?, instance: Int = 0) async throws
        -> OrdersFixture.Reply
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(shop.ports[instance])/api/v1/webhooks/payments")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let signature { request.headers.add(name: "X-Signature", value: signature) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await shop.http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return OrdersFixture.Reply(
            status: Int(response.status.code),
            headers: response.headers,
            body: String(buffer: bytes)
        )
    }

    static func signed(_ body: String, at date: Date = Date()) -> String {
        WebhookSignature(secret: Self.secret).header(for: Array(body.utf8), at: date)
    }

    /// An order with a payment the provider knows as `providerID`.
    static func paymentFixture(_ shop: OrdersFixture, providerID: String) async throws -> UUID {
        let cookie = try await shop.signIn("hook-\(UUID().uuidString.prefix(6))@external.test")
        let product = try await shop.insertProduct(stock: 5, price: "5.00")
        let order = try await shop.order(product, quantity: 1, cookie: cookie, key: "h-\(providerID)")
        let orderID = try JSONDecoder().decode(OrderEnvelope.self, from: Data(order.body.utf8)).data.id
        let id = try #require(UUID(uuidString: orderID))
        _ = try await withClient(shop.database) { client in
            try await client.query(
                """
                INSERT INTO payments (id, order_id, user_id, attempt, provider_payment_id, amount, currency)
                SELECT \(UUID()), id, user_id, 1, \(providerID), total, currency FROM orders WHERE id = \(id)
                """
            )
        }
        return id
    }

    static func state(_ shop: OrdersFixture, providerID: String) async throws -> (payment: String, order: String) {
        try await withClient(shop.database) { client in
            let rows = try await client.query(
                """
                SELECT p.status, o.status FROM payments p JOIN orders o ON o.id = p.order_id
                WHERE p.provider_payment_id = \(providerID)
                """
            )
            for try await row in rows.decode((String, String).self) { return row }
            throw ScalarMissing()
        }
    }

    static func waitFor(_ shop: OrdersFixture, providerID: String, payment: String) async throws {
        for _ in 0..<300 {
            // No payment has the provider id yet (it may be recorded from the event itself): keep waiting.
            if (try? await Self.state(shop, providerID: providerID))?.payment == payment { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("payment \(providerID) never became \(payment)")
    }

    static let isolated = ConfigurationTweak.with { configuration in
        configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
        configuration.notifications.channel = String((configuration.accounts.sessionKeyPrefix + "notify").prefix(64))
    }

    @Test func badSignaturesAndOldTimestampsAre401() async throws {
        try await withOrderInstances(count: 1, configure: Self.isolated) { shop in
            let body = Self.event("evt_1", "payment.succeeded", payment: "pay_x", order: UUID())
            let missing = try await Self.post(shop, body, signature: nil)
            #expect(missing.status == 401 && missing.body.contains(#""code":"INVALID_SIGNATURE""#))
            let forged = WebhookSignature(secret: "someone-elses-secret!").header(for: Array(body.utf8))
            #expect(try await Self.post(shop, body, signature: forged).status == 401)
            let tampered = try await Self.post(shop, body + " ", signature: Self.signed(body))
            #expect(tampered.status == 401)
            let old = try await Self.post(shop, body, signature: Self.signed(body, at: Date().addingTimeInterval(-301)))
            #expect(old.status == 401 && old.body.contains("too old"))
            let garbage = try await Self.post(shop, body, signature: "t=abc,v1=zz")
            #expect(garbage.status == 401)
            let notJSON = try await Self.post(shop, "hello", signature: Self.signed("hello"))
            #expect(notJSON.status == 400 && notJSON.body.contains(#""code":"MALFORMED_JSON""#))
        }
    }

    @Test func aDuplicatedEventHasOneEffectAndOutOfOrderEventsEndRight() async throws {
        try await withOrderInstances(count: 1, configure: Self.isolated) { shop in
            let order = try await Self.paymentFixture(shop, providerID: "pay_dup")
            let succeeded = Self.event("evt_s", "payment.succeeded", payment: "pay_dup", order: order)
            let first = try await Self.post(shop, succeeded, signature: Self.signed(succeeded))
            #expect(first.status == 202 && first.body.contains(#""duplicate":false"#))
            let replay = try await Self.post(shop, succeeded, signature: Self.signed(succeeded))
            #expect(replay.status == 202 && replay.body.contains(#""duplicate":true"#))
            try await Self.waitFor(shop, providerID: "pay_dup", payment: "succeeded")
            // Late events: processing (older), then a failed one — neither undoes the success.
            for (id, type) in [("evt_p", "payment.processing"), ("evt_f", "payment.failed")] {
                let body = Self.event(id, type, payment: "pay_dup", order: order)
                #expect(try await Self.post(shop, body, signature: Self.signed(body)).status == 202)
            }
            let counted = try await withClient(shop.database) { client in
                for _ in 0..<300 {
                    let events = try await client.scalar("SELECT count(*)::int FROM payment_events")
                    if events == 3 { return events }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return try await client.scalar("SELECT count(*)::int FROM payment_events")
            }
            #expect(counted == 3)
            let (payment, orderStatus) = try await Self.state(shop, providerID: "pay_dup")
            #expect(payment == "succeeded" && orderStatus == "paid")
            let notifications = try await withClient(shop.database) { client in
                try await client.scalar("SELECT count(*)::int FROM notifications WHERE kind LIKE 'payment.%'")
            }
            #expect(notifications == 1)
        }
    }

    @Test func eventsAcceptedWhileConsumersAreDownAreAppliedLater() async throws {
        // Instance 1 takes webhooks but runs no consumers.
        try await withOrderInstances(
            count: 1,
            configure: .with { configuration in
                try Self.isolated.apply(&configuration)
                configuration.queue.consumersEnabled = false
            }
        ) { shop in
            let order = try await Self.paymentFixture(shop, providerID: "pay_later")
            let body = Self.event("evt_later", "payment.succeeded", payment: "pay_later", order: order)
            #expect(try await Self.post(shop, body, signature: Self.signed(body)).status == 202)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.state(shop, providerID: "pay_later").payment == "pending")
            // A consumer starts (another instance on the same Redis and database) and applies it.
            var configuration = shop.configuration
            configuration.queue.consumersEnabled = true
            configuration.instanceID = "late-consumer"
            let consumer = buildApplication(configuration: configuration, logger: TestServers.logger)
            try await consumer.test(.live) { _ in
                try await Self.waitFor(shop, providerID: "pay_later", payment: "succeeded")
            }
            #expect(try await Self.state(shop, providerID: "pay_later").order == "paid")
        }
    }

    /// An order with a payment we created (our id returned) whose provider id never reached our database: the
    /// process died between the provider's answer and storing it.
    static func paymentWithoutProviderID(_ shop: OrdersFixture) async throws -> (order: UUID, payment: UUID) {
        let cookie = try await shop.signIn("lost-id-\(UUID().uuidString.prefix(6))@external.test")
        let product = try await shop.insertProduct(stock: 5, price: "5.00")
        let order = try await shop.order(product, quantity: 1, cookie: cookie, key: "lost-id")
        let orderID = try #require(
            UUID(uuidString: try JSONDecoder().decode(OrderEnvelope.self, from: Data(order.body.utf8)).data.id)
        )
        let payment = UUID()
        _ = try await withClient(shop.database) { client in
            try await client.query(
                """
                INSERT INTO payments (id, order_id, user_id, attempt, amount, currency)
                SELECT \(payment), id, user_id, 1, total, currency FROM orders WHERE id = \(orderID)
                """
            )
        }
        return (orderID, payment)
    }

    static func event(_ id: String, _ type: String, payment: String, reference: UUID?, order: UUID) -> String {
        let reference = reference.map { #","reference":"\#($0.uuidString.lowercased())""# } ?? ""
        return
            #"{"created":0,"data":{"amount":"5.00","currency":"USD","orderId":"\#(order.uuidString.lowercased())","paymentId":"\#(payment)"\#(reference),"status":"x"},"id":"\#(id)","type":"\#(type)"}"#
    }

    static func inboxStatus(_ shop: OrdersFixture, event: String) async throws -> String? {
        try await withClient(shop.database) { client in
            for try await status in try await client.query(
                "SELECT status FROM provider_events WHERE event_id = \(event)"
            ).decode(String.self) {
                return status
            }
            return nil
        }
    }

    @Test func anEventForAPaymentWhoseProviderIDNeverCommittedIsMatchedByOurReference() async throws {
        try await withOrderInstances(count: 1, configure: Self.isolated) { shop in
            let (order, payment) = try await Self.paymentWithoutProviderID(shop)
            let body = Self.event("evt_ref", "payment.succeeded", payment: "pay_ref", reference: payment, order: order)
            #expect(try await Self.post(shop, body, signature: Self.signed(body)).status == 202)
            // Matched by our id, the provider's id recorded from the event, applied — no operator, no dead letter.
            try await Self.waitFor(shop, providerID: "pay_ref", payment: "succeeded")
            #expect(try await Self.state(shop, providerID: "pay_ref").order == "paid")
            #expect(try await Self.inboxStatus(shop, event: "evt_ref") == "applied")
        }
    }

    @Test func anEventNothingMatchesWaitsInTheInboxUntilThePaymentLearnsItsProviderID() async throws {
        try await withOrderInstances(count: 1, configure: Self.isolated) { shop in
            let (order, payment) = try await Self.paymentWithoutProviderID(shop)
            // A provider that does not echo our reference: nothing of ours has "pay_late" yet.
            let body = Self.event("evt_unm", "payment.succeeded", payment: "pay_late", reference: nil, order: order)
            #expect(try await Self.post(shop, body, signature: Self.signed(body)).status == 202)
            for _ in 0..<300 where try await Self.inboxStatus(shop, event: "evt_unm") != "unmatched" {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await Self.inboxStatus(shop, event: "evt_unm") == "unmatched")
            // Parked, not dead-lettered: nothing failed in the queue.
            let deadLetters = try await shop.redis.send(
                RedisCommand("XLEN", "\(shop.configuration.queue.keyPrefix){payments}:dead")
            ).decode(as: Int.self)
            #expect(deadLetters == 0)
            // The pay flow records the provider's id (a client retried "pay"); the parked event is applied.
            _ = try await withClient(shop.database) { client in
                try await PaymentRepository(client: Database(client: client), logger: TestServers.logger)
                    .setProviderID("pay_late", of: payment)
            }
            try await Self.waitFor(shop, providerID: "pay_late", payment: "succeeded")
            #expect(try await Self.inboxStatus(shop, event: "evt_unm") == "applied")
        }
    }

    @Test func aWebhookIsStoredInPostgreSQLBeforeItIsAcknowledgedEvenWithRedisDown() async throws {
        let port = try await closedPort()
        try await withOrderInstances(
            count: 1,
            configure: .with { configuration in
                try Self.isolated.apply(&configuration)
                configuration.redis = try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0")
            }
        ) { shop in
            let body = Self.event("evt_down", "payment.succeeded", payment: "pay_down", reference: nil, order: UUID())
            let reply = try await Self.post(shop, body, signature: Self.signed(body))
            // Acknowledged because it is in PostgreSQL (the inbox and an outbox row), not because Redis took it.
            #expect(reply.status == 202, "\(reply.body)")
            #expect(try await Self.inboxStatus(shop, event: "evt_down") == "queued")
            #expect(try await shop.scalar("SELECT count(*)::int FROM outbox WHERE topic = 'payments'") == 1)
            let again = try await Self.post(shop, body, signature: Self.signed(body))
            #expect(again.status == 202 && again.body.contains(#""duplicate":true"#))
        }
    }
}

@Suite("Simulated provider")
struct ProviderTests {
    @Test func controlTakesPartialSettingsAndRefusesBadOnes() async throws {
        try await withProvider { provider in
            var request = HTTPClientRequest(url: "\(provider.url)/v1/control")
            request.method = .PUT
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"outage":true}"#))
            let response = try await provider.http.execute(request, timeout: .seconds(10))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
            #expect(response.status == .ok, "\(body)")
            #expect(body.contains(#""outage":true"#) && body.contains(#""latencyMs":0"#))
            let rates = try await provider.http.execute(
                HTTPClientRequest(url: "\(provider.url)/v1/rates/USD/EUR"),
                timeout: .seconds(10)
            )
            #expect(rates.status == .serviceUnavailable)
            request.body = .bytes(ByteBuffer(string: #"{"errorRate":2}"#))
            let bad = try await provider.http.execute(request, timeout: .seconds(10))
            #expect(bad.status == .badRequest)
        }
    }
}
