#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Where the catalog reads products from.
public protocol ProductRepository: Sendable {
    /// The products of one page, ordered by name then id, and the total count.
    /// - Parameters:
    ///   - offset: Rows to skip.
    ///   - limit: Rows to return at most.
    func list(offset: Int, limit: Int) async throws -> ProductPage

    /// The product with `id`, or nil.
    /// - Parameter id: Its id.
    func find(id: UUID) async throws -> Product?
}
