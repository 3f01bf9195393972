#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// An order, as the API shows it.
public struct Order: Codable, Sendable, Equatable {
    /// The largest total an order may have, in cents: 9,999,999,999.99, what `numeric(12, 2)` holds.
    static let maxTotalCents = 999_999_999_999
    /// Its id.
    public var id: UUID
    /// `confirmed` once placed (stock taken); later states come with payments.
    public var status: String
    /// What was ordered.
    public var items: [OrderItem]
    /// The sum of the items, as a decimal string with two places.
    public var total: String
    /// ISO 4217 code shared by every item.
    public var currency: String
    /// When it was placed.
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, status, items, total, currency, createdAt
    }

    public init(id: UUID, status: String, items: [OrderItem], total: String, currency: String, createdAt: Date) {
        self.id = id
        self.status = status
        self.items = items
        self.total = total
        self.currency = currency
        self.createdAt = createdAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id.uuidString.lowercased(), forKey: .id)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.items, forKey: .items)
        try container.encode(self.total, forKey: .total)
        try container.encode(self.currency, forKey: .currency)
        try container.encode(self.createdAt, forKey: .createdAt)
    }
}

/// One line of an order.
public struct OrderItem: Codable, Sendable, Equatable {
    /// The product.
    public var productId: UUID
    /// Units.
    public var quantity: Int
    /// The product's price when the order was placed.
    public var unitPrice: String

    enum CodingKeys: String, CodingKey {
        case productId, quantity, unitPrice
    }

    public init(productId: UUID, quantity: Int, unitPrice: String) {
        self.productId = productId
        self.quantity = quantity
        self.unitPrice = unitPrice
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.productId.uuidString.lowercased(), forKey: .productId)
        try container.encode(self.quantity, forKey: .quantity)
        try container.encode(self.unitPrice, forKey: .unitPrice)
    }
}

/// Decimal strings with two places (`"12.50"`) as whole cents, without floating point.
enum Cents {
    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int(parts[0]), whole >= 0 else { return nil }
        var fraction = 0
        if parts.count == 2 {
            guard parts[1].count <= 2, parts[1].allSatisfy(\.isNumber), let value = Int(parts[1]) else { return nil }
            fraction = parts[1].count == 1 ? value * 10 : value
        }
        return whole * 100 + fraction
    }

    static func format(_ cents: Int) -> String {
        let fraction = cents % 100
        return "\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
