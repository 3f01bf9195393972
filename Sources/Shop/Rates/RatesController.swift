import HTTPTypes
public import Hummingbird

/// `GET /api/v1/rates/{base}/{quote}` (anyone).
struct RatesController: Sendable {
    let service: RatesService

    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.get(":base/:quote", use: self.rate)
        return routes
    }

    @Sendable func rate(_ request: Request, context: ShopRequestContext) async throws -> Envelope<RateQuote, RateMeta> {
        let base = try Self.currency(context.parameters.get("base"), field: "base")
        let quote = try Self.currency(context.parameters.get("quote"), field: "quote")
        let answer = try await Self.lookup(self.service, base: base, quote: quote)
        return Envelope(data: answer.quote, meta: RateMeta(stale: answer.stale))
    }

    /// A rate, or the API error for a missing pair (404) or an unavailable provider (503 with `Retry-After`).
    static func lookup(_ service: RatesService, base: String, quote: String) async throws -> RateAnswer {
        do {
            guard let answer = try await service.rate(base: base, quote: quote) else {
                throw APIError.notFound("The rate provider has no rate from \(base) to \(quote).")
            }
            return answer
        } catch let error as RatesUnavailable {
            var problem = APIError(
                status: .serviceUnavailable,
                code: .providerUnavailable,
                detail:
                    "The exchange-rate provider is unavailable and no earlier rate from \(base) to \(quote) is known."
            )
            let seconds = max(1, error.retryAfter.map { Int($0.components.seconds) + 1 } ?? 5)
            problem.headers[.retryAfter] = String(seconds)
            throw problem
        }
    }

    /// An ISO 4217 code (upper-case).
    static func currency(_ text: String?, field: String) throws -> String {
        let code = (text ?? "").uppercased()
        guard code.utf8.count == 3, CurrencyCodes.iso4217.contains(code) else {
            throw APIError.invalidParameters([
                FieldError(field: field, code: .invalidFormat, message: "must be an ISO 4217 currency code, like EUR")
            ])
        }
        return code
    }
}

/// `meta` of a rate: whether it is the last good value, served because the provider could not be asked.
struct RateMeta: Codable, Sendable, Equatable {
    var stale: Bool
}
