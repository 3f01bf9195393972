import Logging
import RedisCache
import RedisClient
import Resilience

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A rate and whether it is the last good value served because the provider could not be asked.
struct RateAnswer: Sendable, Equatable {
    var quote: RateQuote
    var stale: Bool
}

/// The provider could not answer and no earlier rate is known.
struct RatesUnavailable: Error {
    /// When to ask again, if known (the breaker's remaining open time).
    var retryAfter: Duration?
}

/// The brief's external sync flow: cache → provider through retries and a breaker → shape → cache.
///
/// Fresh rates come from the cache (`rates` namespace, `RATES_CACHE_TTL_SECONDS`) or the provider. Every rate
/// fetched is also kept as the pair's *last good* value (7 days, outside the cache's TTL); when the provider
/// fails — breaker open, retries exhausted, deadline passed — the last good value is served, marked stale, and
/// only without one does the lookup fail.
struct RatesService: Sendable {
    let client: RatesClient
    let cache: RedisCache<RateQuote, JSONCacheCodec<RateQuote>>?
    let redis: RedisClient
    let lastGoodPrefix: String
    let logger: Logger

    /// The rate from `base` to `quote`; nil when the provider knows no such pair.
    func rate(base: String, quote: String) async throws -> RateAnswer? {
        if base == quote {
            return RateAnswer(quote: RateQuote(base: base, quote: quote, rate: "1.000000", asOf: ""), stale: false)
        }
        let key = "\(base)-\(quote)"
        do {
            let fresh: RateQuote?
            if let cache = self.cache {
                fresh = try await cache.get(key) { try await self.fetchAndRemember(base: base, quote: quote, key: key) }
            } else {
                fresh = try await self.fetchAndRemember(base: base, quote: quote, key: key)
            }
            return fresh.map { RateAnswer(quote: $0, stale: false) }
        } catch {
            if let last = await self.lastGood(key) { return RateAnswer(quote: last, stale: true) }
            throw RatesUnavailable(retryAfter: (error as? ResilienceError)?.retryAfter)
        }
    }

    private func fetchAndRemember(base: String, quote: String, key: String) async throws -> RateQuote? {
        guard let fetched = try await self.client.fetch(base: base, quote: quote) else { return nil }
        do {
            let json = String(decoding: try JSONEncoder().encode(fetched), as: UTF8.self)
            _ = try await self.redis.send(RedisCommand("SET", key: self.lastGoodPrefix + key, json, "EX", "604800"))
        } catch {
            self.logger.debug("could not keep the last good rate", metadata: ["error": "\(error)"])
        }
        return fetched
    }

    private func lastGood(_ key: String) async -> RateQuote? {
        guard let value = try? await self.redis.send(RedisCommand("GET", key: self.lastGoodPrefix + key)),
            let text = try? value.decode(as: String?.self)
        else { return nil }
        return try? JSONDecoder().decode(RateQuote.self, from: Data(text.utf8))
    }
}

/// Prices converted with a rate, in integer arithmetic (cents × millionths).
enum PriceConversion {
    /// `price` (two decimals) × `rate` (up to six decimals), rounded half up to two decimals; nil when either
    /// is not a decimal string.
    static func convert(price: String, rate: String) -> String? {
        guard let cents = Cents.parse(price), let micros = Self.micros(rate) else { return nil }
        let (product, overflow) = cents.multipliedReportingOverflow(by: micros)
        guard !overflow else { return nil }
        return Cents.format((product + 500_000) / 1_000_000)
    }

    static func micros(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int(parts[0]), whole >= 0 else { return nil }
        var fraction = 0
        if parts.count == 2 {
            let digits = parts[1].prefix(6)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let padded = String(digits) + String(repeating: "0", count: 6 - digits.count)
            fraction = Int(padded) ?? 0
        }
        // A rate from the provider is untrusted: one too large for micro-units is refused, never a trap.
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1_000_000)
        let (micros, carry) = scaled.addingReportingOverflow(fraction)
        guard !overflow, !carry else { return nil }
        return micros
    }
}
