public import Hummingbird
public import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The simulated external provider `shop provider` serves on loopback: an exchange-rate API and a payment API
/// whose latency, error rate and outages can be changed at run time (`PUT /v1/control`), and which calls the
/// service's payment webhook, signed, after each payment.
///
/// - `GET /v1/rates/{base}/{quote}` → `{"base","quote","rate","asOf"}` (`404` for an unknown currency)
/// - `POST /v1/payments` (`Idempotency-Key` required) `{"orderId","amount","currency","callbackUrl"}` →
///   `201 {"id","status":"pending",...}`; the same key answers the same payment (`200`). Then
///   `payment.processing` and `payment.succeeded` (or `payment.failed`) are posted to `callbackUrl`.
/// - `GET /v1/control` → settings and counters; `PUT /v1/control` replaces the settings.
public func buildProviderApplication(
    host: String,
    port: Int,
    webhookSecret: String,
    logger: Logger
) -> some ApplicationProtocol {
    let state = ProviderState()
    let webhooks = ProviderWebhooks(state: state, secret: webhookSecret, logger: logger)
    let router = Router()
    router.get("/health") { _, _ in "ok" }
    router.get("/v1/control") { _, _ in ProviderControl(settings: state.settings, stats: state.stats) }
    router.put("/v1/control") { request, context -> ProviderControl in
        let settings = try await request.decode(as: ProviderSettings.self, context: context)
        guard settings.problems.isEmpty else {
            throw HTTPError(.badRequest, message: settings.problems.joined(separator: "; "))
        }
        state.settings = settings
        return ProviderControl(settings: settings, stats: state.stats)
    }
    let api = router.group("v1").add(middleware: ProviderFaults(state: state))
    api.get("rates/:base/:quote") { _, context -> ProviderRate in
        state.count { $0.rateRequests += 1 }
        let base = (context.parameters.get("base") ?? "").uppercased()
        let quote = (context.parameters.get("quote") ?? "").uppercased()
        guard let from = ProviderRate.perUSD[base], let to = ProviderRate.perUSD[quote] else {
            throw HTTPError(.notFound, message: "unknown currency")
        }
        return ProviderRate(
            base: base,
            quote: quote,
            rate: String(format: "%.6f", to / from),
            asOf: Date().formatted(.iso8601)
        )
    }
    api.post("payments") { request, context -> Response in
        state.count { $0.paymentRequests += 1 }
        guard let key = request.headers[.idempotencyKey], !key.isEmpty else {
            throw HTTPError(.badRequest, message: "Idempotency-Key is required")
        }
        let input = try await request.decode(as: ProviderPaymentRequest.self, context: context)
        guard input.callbackUrl.hasPrefix("http://") || input.callbackUrl.hasPrefix("https://") else {
            throw HTTPError(.badRequest, message: "callbackUrl must be an http(s) URL")
        }
        let (payment, created) = state.payment(key: key) {
            ProviderPayment(
                id: "pay_\(UUID().uuidString.lowercased())",
                reference: key,
                orderId: input.orderId,
                amount: input.amount,
                currency: input.currency,
                status: "pending",
                callbackUrl: input.callbackUrl
            )
        }
        if created {
            let fails = Double.random(in: 0..<1) < state.settings.paymentFailureRate
            state.finish(payment.id, status: fails ? "failed" : "succeeded")
            webhooks.schedule(payment, outcome: fails ? "payment.failed" : "payment.succeeded")
        }
        let body = try JSONEncoder().encode(payment)
        return Response(
            status: created ? .created : .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: .init(bytes: body))
        )
    }
    api.get("payments/:id") { _, context -> Response in
        guard let payment = state.payment(id: context.parameters.get("id") ?? "") else {
            throw HTTPError(.notFound, message: "no such payment")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: .init(bytes: try JSONEncoder().encode(payment)))
        )
    }
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: "shop-provider"),
        logger: logger
    )
    app.addServices(webhooks)
    return app
}

/// Injects the configured outage, errors and latency into the provider's API.
struct ProviderFaults<Context: RequestContext>: RouterMiddleware {
    let state: ProviderState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let settings = self.state.settings
        if settings.latencyMs > 0 { try await Task.sleep(for: .milliseconds(settings.latencyMs)) }
        if settings.outage { throw HTTPError(.serviceUnavailable, message: "provider outage (simulated)") }
        if settings.errorRate > 0, Double.random(in: 0..<1) < settings.errorRate {
            throw HTTPError(.internalServerError, message: "provider error (simulated)")
        }
        return try await next(request, context)
    }
}

struct ProviderControl: ResponseCodable {
    var settings: ProviderSettings
    var stats: ProviderStats
}

struct ProviderRate: ResponseCodable {
    var base: String
    var quote: String
    var rate: String
    var asOf: String

    /// Units of each currency per US dollar (fixed: a simulator).
    static let perUSD: [String: Double] = [
        "USD": 1, "EUR": 0.92, "GBP": 0.79, "JPY": 151.2, "KRW": 1385.5, "CHF": 0.88, "CAD": 1.36, "AUD": 1.52,
    ]
}

struct ProviderPaymentRequest: Decodable {
    var orderId: String
    var amount: String
    var currency: String
    var callbackUrl: String
}

extension ProviderPayment: ResponseEncodable {}
