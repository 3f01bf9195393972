import Logging
import PostgresNIO
import RedisClient
import RedisLock

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The orders module, assembled: the stock strategy `INVENTORY_STRATEGY` names, idempotency records, routes.
struct Orders {
    let strategy: any StockStrategy
    let repository: OrderRepository
    let service: OrderService
    let controller: OrdersController

    init(
        configuration: OrdersConfiguration,
        postgres: Database,
        redis: RedisClient,
        locks: RedisLocks,
        catalogCache: CatalogCache?,
        logger: Logger,
        orderPlaced: @escaping @Sendable (UUID, Order) async -> Void = { _, _ in }
    ) {
        self.strategy = Self.strategy(configuration, postgres: postgres, redis: redis, locks: locks)
        self.repository = OrderRepository(client: postgres, logger: logger)
        self.service = OrderService(
            strategy: self.strategy,
            repository: self.repository,
            idempotency: IdempotencyStore(
                redis: redis,
                keyPrefix: configuration.keyPrefix + "idem:",
                retention: configuration.idempotencyRetention,
                claimTimeout: configuration.idempotencyClaimTimeout,
                logger: logger
            ),
            retention: configuration.idempotencyRetention,
            logger: logger,
            stockTaken: { ids in
                // The cached product shows the stock; orders check PostgreSQL, never the cache.
                guard let catalogCache else { return }
                for id in ids { await catalogCache.stockChanged(id: id) }
            },
            orderPlaced: orderPlaced
        )
        self.controller = OrdersController(service: self.service, repository: self.repository)
    }

    /// An admin changed or deleted a product: stock state kept outside PostgreSQL must follow.
    func productWritten(_ id: UUID, logger: Logger) async {
        guard let counters = self.strategy as? RedisCounterStrategy else { return }
        do {
            try await counters.forget(id)
        } catch {
            // The counter's expiry bounds how long it can disagree; PostgreSQL's guard still refuses overselling.
            logger.warning(
                "could not drop the stock counter after a product write",
                metadata: ["product": "\(id)", "error": "\(error)"]
            )
        }
    }

    static func strategy(
        _ configuration: OrdersConfiguration,
        postgres: Database,
        redis: RedisClient,
        locks: RedisLocks
    ) -> any StockStrategy {
        switch configuration.strategy {
        case .conditionalUpdate:
            ConditionalUpdateStrategy(client: postgres)
        case .selectForUpdate:
            SelectForUpdateStrategy(client: postgres)
        case .lock:
            RedisLockStrategy(
                client: postgres,
                locks: locks,
                lease: configuration.lockLease,
                wait: configuration.lockWait
            )
        case .redisCounter:
            RedisCounterStrategy(client: postgres, redis: redis, keyPrefix: configuration.keyPrefix + "stock:")
        }
    }
}
