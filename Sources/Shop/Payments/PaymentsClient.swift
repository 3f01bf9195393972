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

    /// Asks the provider to collect `amount`; returns its payment id.
    /// - Parameter host: The pay request's host, for the callback URL when none is configured.
    func create(key: String, orderID: UUID, amount: String, currency: String, host: String) async throws -> String {
        let callback = self.callbackURL ?? "http://\(host)/api/v1/webhooks/payments"
        let body = """
            {"amount":"\(amount)","callbackUrl":"\(callback)","currency":"\(currency)",\
            "orderId":"\(orderID.uuidString.lowercased())"}
            """
        return try await self.pipeline.run(idempotent: true) { _ in
            var request = HTTPClientRequest(url: "\(self.baseURL)/v1/payments")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Idempotency-Key", value: key)
            request.body = .bytes(ByteBuffer(string: body))
            return try await self.http.callProvider(request, accepting: [201, 200], as: Created.self).id
        }
    }
}
