import AsyncHTTPClient
import Logging
import NIOCore
import Resilience

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One exchange rate.
public struct RateQuote: Codable, Sendable, Equatable {
    /// ISO 4217 code of the currency converted from.
    public var base: String
    /// ISO 4217 code of the currency converted to.
    public var quote: String
    /// Units of `quote` per unit of `base`, a decimal string.
    public var rate: String
    /// When the provider computed it.
    public var asOf: String
}

/// A failure of the rate provider, classified for retries and the breaker.
struct ProviderError: RetryableError, CustomStringConvertible {
    /// The HTTP status; 0 when no answer came back.
    var status: Int
    var retryAfter: Duration?
    var wasNotProcessed: Bool

    var isRetryable: Bool { self.status == 0 || self.status == 429 || self.status >= 500 }
    var description: String { self.status == 0 ? "provider unreachable" : "provider answered \(self.status)" }

    /// A 4xx other than 429 says the provider is healthy (the request was wrong): not a breaker failure.
    static func breakerOutcome(_ error: any Error) -> CircuitBreakerErrorOutcome {
        if let error = error as? ProviderError, (400..<500).contains(error.status), error.status != 429 {
            return .success
        }
        return CircuitBreakerConfiguration.standardClassifier(error)
    }

    /// What an HTTP answer means, from its status and `Retry-After` (delta-seconds).
    static func from(_ response: HTTPClientResponse) -> ProviderError {
        ProviderError(
            status: Int(response.status.code),
            retryAfter: response.headers.first(name: "retry-after").flatMap(Int64.init).map { .seconds($0) },
            wasNotProcessed: response.status == .tooManyRequests || response.status == .serviceUnavailable
        )
    }

    /// A transport failure: nothing came back (a refused connection certainly did nothing).
    static func transport(_ error: any Error) -> ProviderError {
        let refused = "\(error)".contains("connect")
        return ProviderError(status: 0, retryAfter: nil, wasNotProcessed: refused)
    }
}

extension HTTPClient {
    /// One attempt at a provider call: a transport failure becomes ``ProviderError/transport(_:)``, a status code
    /// outside `accepted` ``ProviderError/from(_:)``, and the body (at most 64 KiB) is decoded as `T`.
    func callProvider<T: Decodable>(
        _ request: HTTPClientRequest,
        accepting accepted: [UInt] = [200],
        as type: T.Type
    ) async throws -> T {
        let response: HTTPClientResponse
        do {
            response = try await self.execute(request, timeout: .seconds(30))
        } catch {
            throw ProviderError.transport(error)
        }
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard accepted.contains(response.status.code) else { throw ProviderError.from(response) }
        return try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }
}

/// Calls the rate provider through a resilience pipeline: per-attempt timeout, jittered retries, a circuit
/// breaker that fails fast while the provider is down, and a bulkhead.
struct RatesClient: Sendable {
    let baseURL: String
    let http: HTTPClient
    let pipeline: ResiliencePipeline<ContinuousClock>

    init(configuration: RatesConfiguration, http: HTTPClient, logger: Logger) {
        self.baseURL = configuration.providerURL
        self.http = http
        var breakerSettings = CircuitBreakerConfiguration()
        breakerSettings.slidingWindow = .count(20)
        breakerSettings.minimumNumberOfCalls = configuration.breakerMinimumCalls
        breakerSettings.slowCallDuration = configuration.attemptTimeout
        breakerSettings.waitDurationInOpenState = configuration.breakerOpenDuration
        breakerSettings.permittedCallsInHalfOpenState = 1
        breakerSettings.classifier = ProviderError.breakerOutcome
        self.pipeline = ResiliencePipeline(
            name: "rates-provider",
            retry: RetryPolicy(
                maxAttempts: configuration.maxAttempts,
                baseDelay: .milliseconds(50),
                maxDelay: .seconds(1)
            ),
            attemptTimeout: configuration.attemptTimeout,
            timeout: configuration.attemptTimeout * (configuration.maxAttempts + 1),
            circuitBreaker: CircuitBreaker(name: "rates-provider", configuration: breakerSettings, logger: logger),
            bulkhead: Bulkhead(
                name: "rates-provider",
                configuration: .init(maxConcurrentCalls: 32, maxWaitingCalls: 256)
            ),
            logger: logger
        )
    }

    /// The provider's current rate; nil when it knows neither currency (404).
    func fetch(base: String, quote: String) async throws -> RateQuote? {
        let url = "\(self.baseURL)/v1/rates/\(base)/\(quote)"
        do {
            return try await self.pipeline.run(idempotent: true) { _ in
                try await self.http.callProvider(HTTPClientRequest(url: url), as: RateQuote.self)
            }
        } catch let error as ProviderError where error.status == 404 {
            return nil
        }
    }
}
