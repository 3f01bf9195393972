import AsyncHTTPClient
import NIOCore
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where the payment provider is told to post its webhooks (docs/security.md, "Payment webhooks").
@Suite("Payments callback URL")
struct PaymentsCallbackTests {
    struct PaymentEnvelope: Decodable {
        struct Payment: Decodable { var providerPaymentId: String? }
        var data: Payment
    }

    /// Orders something and pays it with `host` as the request's `Host`; returns the provider's record.
    static func pay(
        _ shop: OrdersFixture,
        _ provider: ProviderFixture,
        email: String,
        host: String? = nil
    ) async throws -> ProviderPayment {
        let buyer = try await shop.signIn(email)
        let product = try await shop.insertProduct(stock: 5, price: "4.00")
        let order = try await shop.order(product, quantity: 1, cookie: buyer, key: "cb-\(email)")
        let orderID = try JSONDecoder().decode(OrderEnvelope.self, from: Data(order.body.utf8)).data.id
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(shop.ports[0])/api/v1/orders/\(orderID)/pay")
        request.method = .POST
        request.headers.add(name: "Cookie", value: "\(sessionCookieName)=\(buyer)")
        if let host { request.headers.add(name: "Host", value: host) }
        let response = try await shop.http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status.code == 202, "\(String(buffer: body))")
        let id = try #require(
            try JSONDecoder().decode(PaymentEnvelope.self, from: Data(buffer: body)).data.providerPaymentId
        )
        let recorded = try await provider.http.execute(
            HTTPClientRequest(url: "\(provider.url)/v1/payments/\(id)"),
            timeout: .seconds(10)
        )
        return try JSONDecoder().decode(
            ProviderPayment.self,
            from: Data(buffer: try await recorded.body.collect(upTo: 1 << 16))
        )
    }

    @Test func aHostHeaderNamingAnotherPortDoesNotChooseWhereTheProviderPosts() async throws {
        try await withProvider { provider in
            try await withOrderInstances(count: 1, configure: ExternalTests.tweak(provider)) { shop in
                // Redis's port on this machine: before the fix the provider was told to post there.
                let payment = try await Self.pay(shop, provider, email: "port@callback.test", host: "127.0.0.1:6379")
                #expect(payment.callbackUrl == "http://127.0.0.1:\(shop.ports[0])/api/v1/webhooks/payments")
                let named = try await Self.pay(shop, provider, email: "named@callback.test", host: "localhost:1")
                #expect(named.callbackUrl == "http://127.0.0.1:\(shop.ports[0])/api/v1/webhooks/payments")
            }
        }
    }

    @Test func aConfiguredCallbackURLWithQuotesAndBackslashesReachesTheProviderIntact() async throws {
        // Port 1: nothing listens, so the provider's deliveries fail quietly in the background.
        let callback = #"http://127.0.0.1:1/hooks?name="x","y"&path=C:\dir\"#
        try await withProvider { provider in
            try await withOrderInstances(
                count: 1,
                configure: ExternalTests.tweak(provider) { $0.payments.callbackURL = callback }
            ) { shop in
                let payment = try await Self.pay(shop, provider, email: "quote@callback.test")
                #expect(payment.callbackUrl == callback)
                #expect(payment.amount == "4.00" && payment.currency == "USD")
            }
        }
    }

    @Test func theProviderRequestIsEncodedJSON() throws {
        let request = PaymentsClient.CreateRequest(
            amount: "1.00",
            callbackUrl: "http://h/\"\\\u{1}",
            currency: "USD",
            orderId: "o"
        )
        let encoded = String(decoding: try JSONCoding.encoder.encode(request), as: UTF8.self)
        #expect(encoded == #"{"amount":"1.00","callbackUrl":"http://h/\"\\\u0001","currency":"USD","orderId":"o"}"#)
    }
}
