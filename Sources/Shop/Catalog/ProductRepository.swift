#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Where the catalog reads and writes products.
public protocol ProductRepository: Sendable {
    /// The products of one page, ordered by name then id, and the total count.
    /// - Parameters:
    ///   - offset: Rows to skip.
    ///   - limit: Rows to return at most.
    func list(offset: Int, limit: Int) async throws -> ProductPage

    /// The product with `id`, or nil.
    /// - Parameter id: Its id.
    func find(id: UUID) async throws -> Product?

    /// Inserts a product (`updatedAt` is the time of the insert).
    /// - Parameters:
    ///   - id: Its new id.
    ///   - draft: Its fields, already validated.
    /// - Returns: The product as stored.
    func create(id: UUID, _ draft: ProductDraft) async throws -> Product

    /// Replaces every field of a product, bumps its `version` and sets `updatedAt` to now.
    /// - Parameters:
    ///   - id: Its id.
    ///   - draft: The new fields, already validated.
    /// - Returns: The product as stored, or nil when there is none with this id.
    func update(id: UUID, _ draft: ProductDraft) async throws -> Product?

    /// Deletes a product.
    /// - Parameter id: Its id.
    /// - Returns: False when there was none with this id.
    /// - Throws: ``ProductInUseError`` when orders refer to it.
    func delete(id: UUID) async throws -> Bool
}

/// The writable fields of a product, validated (see ``ProductInput``).
public struct ProductDraft: Sendable, Equatable {
    /// 1–200 characters.
    public var name: String
    /// Up to 5,000 characters.
    public var description: String
    /// Two-decimal string, 0.00–9999999999.99.
    public var price: String
    /// ISO 4217 code.
    public var currency: String
    /// 0–2147483647.
    public var stock: Int

    /// Creates a draft (validation happens in ``ProductInput/validated()``).
    public init(name: String, description: String, price: String, currency: String, stock: Int) {
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.stock = stock
    }
}

/// The product cannot be deleted: orders refer to it.
public struct ProductInUseError: Error, Sendable {
    /// The product.
    public let id: UUID
}
