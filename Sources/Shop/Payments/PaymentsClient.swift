import AsyncHTTPClient
import Logging
import NIOCore
import Resilience

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Creates payments at the provider through a resilience pipeline. Every call carries an idempotency key, so
/// retries (and a client's repeated `pay`) never charge twice.
struct PaymentsClient: Sendable {
    struct Created: Decodable {
        var id: String
        var status: String
    }

    let baseURL: String
    let callbackURL: String?
    let http: HTTPClient
    let pipeline: ResiliencePipeline<ContinuousClock>

    init(configuration: PaymentsConfiguration, http: HTTPClient, logger: Logger) {
        self.baseURL = configuration.providerURL
        self.callbackURL = configuration.callbackURL
        self.http = http
        var breakerSettings = CircuitBreakerConfiguration()
        breakerSettings.slidingWindow = .count(20)
        breakerSettings.minimumNumberOfCalls = 5
        breakerSettings.waitDurationInOpenState = .seconds(10)
        breakerSettings.permittedCallsInHalfOpenState = 1
        breakerSettings.slowCallDuration = configuration.timeout
        breakerSettings.classifier = ProviderError.breakerOutcome
        self.pipeline = ResiliencePipeline(
            name: "payments-provider",
            retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(2)),
            attemptTimeout: configuration.timeout,
            timeout: configuration.timeout * 3,
            circuitBreaker: CircuitBreaker(name: "payments-provider", configuration: breakerSettings, logger: logger),
            bulkhead: Bulkhead(
                name: "payments-provider",
                configuration: .init(maxConcurrentCalls: 32, maxWaitingCalls: 256)
            ),
            logger: logger
        )
    }

    /// The body of `POST /v1/payments`, encoded with `JSONEncoder` so every value (a configured callback URL with
    /// quotes or backslashes included) reaches the provider intact.
    struct CreateRequest: Encodable, Equatable {
        var amount: String
        var callbackUrl: String
        var currency: String
        var orderId: String
    }

    /// Asks the provider to collect `amount`; returns its payment id.
    /// - Parameter callback: Where the provider posts the payment's webhooks.
    func create(key: String, orderID: UUID, amount: String, currency: String, callback: String) async throws -> String {
        let body = try JSONCoding.encoder.encode(
            CreateRequest(
                amount: amount,
                callbackUrl: callback,
                currency: currency,
                orderId: orderID.uuidString.lowercased()
            )
        )
        return try await self.pipeline.run(idempotent: true) { _ in
            var request = HTTPClientRequest(url: "\(self.baseURL)/v1/payments")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Idempotency-Key", value: key)
            request.body = .bytes(ByteBuffer(bytes: body))
            return try await self.http.callProvider(request, accepting: [201, 200], as: Created.self).id
        }
    }
}
