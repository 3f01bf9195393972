public import NIOCore

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The catalog's logic between the controller and the repository: reads go through the cache when there is
/// one (cache-aside), writes go to the repository and then evict — after the commit, so that no instance can
/// cache what was read before it.
public struct CatalogService<Repository: ProductRepository>: Sendable {
    /// The source of truth.
    public let repository: Repository
    /// The cache; nil when caching is disabled (`CACHE_ENABLED=false`).
    public let cache: CatalogCache?
    /// Told after an admin's write of a product committed (stock may have changed outside orders).
    let productWritten: @Sendable (UUID) async -> Void
    /// Counts product reads for the cache-rebuild job; nil when nothing counts them.
    public let reads: CatalogReadCounter?

    /// Creates the service.
    /// - Parameters:
    ///   - repository: The source of truth.
    ///   - cache: The cache, or nil to read the repository every time.
    ///   - productWritten: Called with the product's id after an update or delete committed (and the cache
    ///     evicted), for state derived from a product outside the cache, such as stock counters.
    ///   - reads: Counts product reads (for the scheduled rebuild of the most-read entries).
    public init(
        repository: Repository,
        cache: CatalogCache?,
        productWritten: @escaping @Sendable (UUID) async -> Void = { _ in },
        reads: CatalogReadCounter? = nil
    ) {
        self.repository = repository
        self.cache = cache
        self.productWritten = productWritten
        self.reads = reads
    }

    /// The product with `id`, or nil.
    public func product(id: UUID) async throws -> Product? {
        guard let cache else { return try await self.repository.find(id: id) }
        return try await self.productJSON(id: id, cache: cache).map(ProductJSON.decode)
    }

    /// The product with `id` as the API shows it (the `data` of `GET /api/v1/products/{id}`), or nil.
    public func productJSON(id: UUID) async throws -> ByteBuffer? {
        self.reads?.record(id)
        guard let cache else { return try await self.repository.find(id: id).map(ProductJSON.encode) }
        return try await self.productJSON(id: id, cache: cache)
    }

    private func productJSON(id: UUID, cache: CatalogCache) async throws -> ByteBuffer? {
        let repository = self.repository
        return try await cache.productJSON(id: id) { try await repository.find(id: id).map(ProductJSON.encode) }
    }

    /// Reloads the cached product from the repository (the scheduled rebuild of hot entries).
    /// - Returns: True when the cache now holds the fresh entry; false without a cache, or when a write
    ///   raced with the reload (the write's eviction wins) or Redis was unavailable.
    @discardableResult
    public func refreshCached(id: UUID) async throws -> Bool {
        guard let cache else { return false }
        let repository = self.repository
        return try await cache.refreshProduct(id: id) { try await repository.find(id: id).map(ProductJSON.encode) }
    }

    /// One page of products and the total.
    public func page(offset: Int, limit: Int) async throws -> ProductPage {
        guard let cache else { return try await self.repository.list(offset: offset, limit: limit) }
        let repository = self.repository
        return try await cache.page(offset: offset, limit: limit) {
            try await repository.list(offset: offset, limit: limit)
        }
    }

    /// Creates a product, then evicts the pages (and any cached "not found" for its id).
    public func create(_ draft: ProductDraft) async throws -> Product {
        let id = UUID()
        let product = try await self.repository.create(id: id, draft)
        await self.cache?.productChanged(id: id)
        return product
    }

    /// Replaces a product, then evicts it and the pages; nil when there is no such product.
    public func update(id: UUID, _ draft: ProductDraft) async throws -> Product? {
        guard let product = try await self.repository.update(id: id, draft) else { return nil }
        await self.cache?.productChanged(id: id)
        await self.productWritten(id)
        return product
    }

    /// Deletes a product, then evicts it and the pages; false when there is no such product.
    public func delete(id: UUID) async throws -> Bool {
        guard try await self.repository.delete(id: id) else { return false }
        await self.cache?.productChanged(id: id)
        await self.productWritten(id)
        return true
    }
}

/// A product in its API form: the JSON of the `data` member, with the API's encoder settings.
enum ProductJSON {
    static func encode(_ product: Product) throws -> ByteBuffer {
        ByteBuffer(data: try JSONCoding.encoder.encode(product))
    }

    static func decode(_ buffer: ByteBuffer) throws -> Product {
        try JSONCoding.decoder.decode(Product.self, from: Data(buffer: buffer))
    }

    /// `{"data":<product>,"meta":{}}` — what ``Envelope`` encodes, written around stored JSON.
    static func envelope(_ product: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(product.readableBytes + 20)
        buffer.writeStaticString("{\"data\":")
        buffer.writeImmutableBuffer(product)
        buffer.writeStaticString(",\"meta\":{}}")
        return buffer
    }
}
