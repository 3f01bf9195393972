import Synchronization

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// How the simulated provider behaves; changed at run time through `PUT /v1/control`.
public struct ProviderSettings: Codable, Sendable, Equatable {
    /// Added to every API answer.
    public var latencyMs: Int = 0
    /// Share of API calls (0–1) answered `500`.
    public var errorRate: Double = 0
    /// Every API call answered `503` while true.
    public var outage: Bool = false
    /// Share of payments (0–1) that end `payment.failed`.
    public var paymentFailureRate: Double = 0
    /// Delay before a payment's webhooks are sent.
    public var webhookDelayMs: Int = 200
    /// Each webhook is sent twice.
    public var duplicateWebhooks: Bool = false
    /// A payment's webhooks are sent newest first (the final outcome before `payment.processing`).
    public var reorderWebhooks: Bool = false

    /// The defaults: fast, reliable, in order.
    public init() {}

    /// Members left out keep their defaults, so `{"outage":true}` is a complete request.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ProviderSettings()
        self.latencyMs = try container.decodeIfPresent(Int.self, forKey: .latencyMs) ?? defaults.latencyMs
        self.errorRate = try container.decodeIfPresent(Double.self, forKey: .errorRate) ?? defaults.errorRate
        self.outage = try container.decodeIfPresent(Bool.self, forKey: .outage) ?? defaults.outage
        self.paymentFailureRate =
            try container.decodeIfPresent(Double.self, forKey: .paymentFailureRate) ?? defaults.paymentFailureRate
        self.webhookDelayMs =
            try container.decodeIfPresent(Int.self, forKey: .webhookDelayMs) ?? defaults.webhookDelayMs
        self.duplicateWebhooks =
            try container.decodeIfPresent(Bool.self, forKey: .duplicateWebhooks) ?? defaults.duplicateWebhooks
        self.reorderWebhooks =
            try container.decodeIfPresent(Bool.self, forKey: .reorderWebhooks) ?? defaults.reorderWebhooks
    }

    /// Rejects values out of range.
    var problems: [String] {
        var problems: [String] = []
        if !(0...60_000).contains(self.latencyMs) { problems.append("latencyMs must be 0-60000") }
        if !(0...1).contains(self.errorRate) { problems.append("errorRate must be 0-1") }
        if !(0...1).contains(self.paymentFailureRate) { problems.append("paymentFailureRate must be 0-1") }
        if !(0...600_000).contains(self.webhookDelayMs) { problems.append("webhookDelayMs must be 0-600000") }
        return problems
    }
}

/// A payment the provider created.
struct ProviderPayment: Codable, Sendable, Equatable {
    var id: String
    /// The merchant's reference: the `Idempotency-Key` it created the payment with (our payment id), echoed in
    /// every webhook as real providers echo a client reference.
    var reference: String
    var orderId: String
    var amount: String
    var currency: String
    var status: String
    var callbackUrl: String
}

/// Counters tests and people trying the demo can read (`GET /v1/control`).
public struct ProviderStats: Codable, Sendable, Equatable {
    /// Rate requests received (including failed ones).
    public var rateRequests = 0
    /// Payment creations received.
    public var paymentRequests = 0
    /// Webhook deliveries attempted.
    public var webhooksSent = 0
    /// Webhook deliveries answered 2xx.
    public var webhooksAccepted = 0
}

/// The provider's state: settings, payments by idempotency key, counters.
final class ProviderState: Sendable {
    private struct State {
        var settings = ProviderSettings()
        var payments: [String: ProviderPayment] = [:]
        var stats = ProviderStats()
    }

    private let state = Mutex(State())

    var settings: ProviderSettings {
        get { self.state.withLock { $0.settings } }
        set { self.state.withLock { $0.settings = newValue } }
    }

    var stats: ProviderStats { self.state.withLock { $0.stats } }

    func count(_ update: @Sendable (inout ProviderStats) -> Void) {
        self.state.withLock { update(&$0.stats) }
    }

    /// Records the outcome the payment's webhooks report.
    func finish(_ id: String, status: String) {
        self.state.withLock { state in
            guard let key = state.payments.first(where: { $0.value.id == id })?.key else { return }
            state.payments[key]?.status = status
        }
    }

    /// The payment with the provider's id `id`.
    func payment(id: String) -> ProviderPayment? {
        self.state.withLock { state in state.payments.values.first { $0.id == id } }
    }

    /// The payment for an idempotency key, created with `make` the first time.
    func payment(key: String, make: () -> ProviderPayment) -> (ProviderPayment, created: Bool) {
        self.state.withLock { state in
            if let existing = state.payments[key] { return (existing, false) }
            let payment = make()
            state.payments[key] = payment
            return (payment, true)
        }
    }
}
