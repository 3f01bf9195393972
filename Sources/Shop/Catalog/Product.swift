#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A product of the catalog, as the API shows it.
public struct Product: Codable, Sendable, Equatable {
    /// Its id.
    public var id: UUID
    /// Its name, 1–200 characters.
    public var name: String
    /// Its description, up to 5,000 characters.
    public var description: String
    /// The price as a decimal string with two places (`"12.50"`).
    public var price: String
    /// ISO 4217 code (`USD`).
    public var currency: String
    /// Units in stock.
    public var stock: Int
    /// The last change.
    public var updatedAt: Date

    /// Creates a product.
    public init(
        id: UUID,
        name: String,
        description: String,
        price: String,
        currency: String,
        stock: Int,
        updatedAt: Date
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.stock = stock
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, description, price, currency, stock, updatedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // Lowercase canonical UUIDs, as the API conventions say.
        try container.encode(self.id.uuidString.lowercased(), forKey: .id)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.description, forKey: .description)
        try container.encode(self.price, forKey: .price)
        try container.encode(self.currency, forKey: .currency)
        try container.encode(self.stock, forKey: .stock)
        try container.encode(self.updatedAt, forKey: .updatedAt)
    }
}

/// One page of products and the total count.
public struct ProductPage: Codable, Sendable, Equatable {
    /// The products of the page.
    public var items: [Product]
    /// How many products there are in all.
    public var totalItems: Int

    /// Creates a page.
    public init(items: [Product], totalItems: Int) {
        self.items = items
        self.totalItems = totalItems
    }
}
