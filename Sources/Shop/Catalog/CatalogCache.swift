public import Logging
import NIOCore
public import RedisCache
public import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The catalog's two caches in Redis: products by id, and pages of the product list.
///
/// - `products` (namespace `products`): one entry per product id, `not found` cached briefly. A write evicts
///   that id. The entry is the product's API JSON, so a hit is written into the response as it is (no decoding
///   and encoding on the hottest route).
/// - `product-pages` (namespace `product-pages`): one entry per `(offset, limit)`. Any product write can move
///   items between pages and changes the totals, so every write evicts the whole namespace (one `SET` of its
///   epoch, O(1)); pages also have a shorter TTL.
///
/// Other modules that change products (stock decrements) call ``productChanged(id:)`` after their commit.
public struct CatalogCache: Sendable {
    /// The manager (statistics, breaker state).
    public let manager: RedisCacheManager
    let products: RedisCache<ByteBuffer, ByteBufferCacheCodec>
    let pages: RedisCache<ProductPage, JSONCacheCodec<ProductPage>>

    /// Creates the caches.
    /// - Parameters:
    ///   - manager: The cache manager (run it as a service).
    ///   - configuration: TTLs and stampede settings.
    public init(manager: RedisCacheManager, configuration: CatalogCacheConfiguration) throws {
        var options = RedisCacheOptions(ttl: configuration.productTTL)
        options.ttlJitter = Double(configuration.ttlJitterPercent) / 100
        options.negativeTTL = configuration.negativeTTL > .zero ? configuration.negativeTTL : nil
        options.staleWhileRevalidate = configuration.staleWhileRevalidate
        options.stampedeWait = configuration.stampedeWait
        self.manager = manager
        self.products = try manager.cache(namespace: "products", codec: ByteBufferCacheCodec(), options: options)
        options.ttl = configuration.listTTL
        self.pages = try manager.cache(namespace: "product-pages", of: ProductPage.self, options: options)
    }

    /// The API JSON of the product with `id`, from the cache or from `load`.
    func productJSON(id: UUID, load: @escaping @Sendable () async throws -> ByteBuffer?) async throws -> ByteBuffer? {
        try await self.products.get(Self.key(id), load: load)
    }

    /// One page of the list, from the cache or from `load`.
    func page(offset: Int, limit: Int, load: @escaping @Sendable () async throws -> ProductPage) async throws
        -> ProductPage
    {
        try await self.pages.get("\(offset):\(limit)", load: load)
    }

    /// Reloads the product's entry now, whatever is cached (for the scheduled rebuild of hot entries). A
    /// concurrent eviction still wins: a value loaded before a write is not stored after it.
    /// - Returns: True when the entry was stored.
    @discardableResult
    func refreshProduct(id: UUID, load: @escaping @Sendable () async throws -> ByteBuffer?) async throws -> Bool {
        try await self.products.refresh(Self.key(id), load: load).stored
    }

    /// An order took some of the product's stock: evicts the product's entry so its next read shows the new
    /// stock. List pages keep theirs until their (shorter) TTL: evicting every page on every order would
    /// empty the list cache during a sale.
    /// - Returns: False when Redis could not be reached (the eviction is deferred in this process only).
    @discardableResult
    public func stockChanged(id: UUID) async -> Bool {
        await self.products.evict(Self.key(id)) == .evicted
    }

    /// Evicts what a change of product `id` makes stale: its entry and every page. Call after the commit.
    public func productChanged(id: UUID) async {
        async let product = self.products.evict(Self.key(id))
        async let pages = self.pages.evictNamespace()
        _ = await (product, pages)
    }

    /// Evicts one key of the `products` or `pages` namespace, or the whole namespace when `key` is nil (an
    /// operator's action); nil for another namespace.
    public func evict(namespace: String, key: String?) async -> RedisCacheEviction? {
        switch (namespace, key) {
        case ("products", let key?): await self.products.evict(key)
        case ("products", nil): await self.products.evictNamespace()
        case ("pages", let key?): await self.pages.evict(key)
        case ("pages", nil): await self.pages.evictNamespace()
        default: nil
        }
    }

    static func key(_ id: UUID) -> String {
        id.uuidString.lowercased()
    }
}

extension CatalogCache {
    /// The catalog cache for a validated configuration, or nil when `CACHE_ENABLED=false`.
    /// - Parameters:
    ///   - configuration: The `CACHE_*` settings (validated by ``ShopConfiguration/init(reader:)``).
    ///   - redis: The service's Redis client.
    ///   - logger: Where breaker changes are logged.
    /// - Returns: The cache; run its ``manager`` as a service after the Redis client.
    public static func make(
        configuration: CatalogCacheConfiguration,
        redis: RedisClient,
        logger: Logger
    ) -> CatalogCache? {
        guard configuration.enabled else { return nil }
        var settings = RedisCacheConfiguration()
        settings.keyPrefix = configuration.keyPrefix
        settings.operationTimeout = configuration.redisTimeout
        settings.failureThreshold = configuration.breakerFailures
        settings.breakerCooldown = configuration.breakerCooldown
        do {
            let manager = try RedisCacheManager(client: redis, configuration: settings, logger: logger)
            return try CatalogCache(manager: manager, configuration: configuration)
        } catch {
            // Only reachable with a configuration that bypassed ShopConfiguration's validation.
            preconditionFailure("invalid cache configuration: \(error)")
        }
    }
}
