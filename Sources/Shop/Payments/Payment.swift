#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A payment of an order, as the API shows it.
public struct Payment: Codable, Sendable, Equatable {
    /// Our id (also the idempotency key sent to the provider).
    public var id: UUID
    /// The order paid.
    public var orderId: UUID
    /// `pending` (asked the provider), `processing`, `succeeded` or `failed`.
    public var status: String
    /// The amount, a decimal string.
    public var amount: String
    /// ISO 4217.
    public var currency: String
    /// The provider's id, once it answered.
    public var providerPaymentId: String?
    /// When it was created and last changed.
    public var createdAt: Date
    public var updatedAt: Date

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id.uuidString.lowercased(), forKey: .id)
        try container.encode(self.orderId.uuidString.lowercased(), forKey: .orderId)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.amount, forKey: .amount)
        try container.encode(self.currency, forKey: .currency)
        try container.encode(self.providerPaymentId, forKey: .providerPaymentId)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.updatedAt, forKey: .updatedAt)
    }
}

/// The payment state machine: states only move forward, and the two outcomes are final, so duplicated and
/// out-of-order provider events cannot undo a later state (a late `failed` never undoes `succeeded`).
enum PaymentState: String, Sendable, CaseIterable {
    case pending, processing, succeeded, failed

    var rank: Int {
        switch self {
        case .pending: 0
        case .processing: 1
        case .succeeded, .failed: 2
        }
    }

    /// The state after an event that reports `reported`: `reported` if it moves forward, otherwise nil.
    func applying(_ reported: PaymentState) -> PaymentState? {
        reported.rank > self.rank ? reported : nil
    }

    /// The state a provider event type reports.
    init?(eventType: String) {
        switch eventType {
        case "payment.processing": self = .processing
        case "payment.succeeded": self = .succeeded
        case "payment.failed": self = .failed
        default: return nil
        }
    }
}

/// A provider webhook, as it arrives and as it is queued.
struct PaymentWebhookEvent: Codable, Sendable, Equatable {
    struct Details: Codable, Sendable, Equatable {
        /// The provider's id of the payment.
        var paymentId: String
        /// Our id of the payment (the idempotency key we created it with), as the provider echoes it.
        var reference: String?
        var orderId: String?
        var status: String?
    }

    var id: String
    var type: String
    var data: Details
}
