public import Logging
public import PostgresNIO
public import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Admission on Redis stock counters: one Lua script checks every line and decrements all of them or none,
/// atomically. Only orders it admitted go on to PostgreSQL, where the same decrement runs guarded by
/// `stock >= n` as the final safety net, in the order's transaction.
///
/// PostgreSQL stays the source of truth; the counters are a fast admission gate kept consistent with it:
/// - A missing counter is created from the database's stock (`SET NX`, so concurrent creators agree).
/// - If the database transaction fails after admission, the units are given back (`INCRBY`).
/// - If the database refuses a decrement Redis admitted (the two drifted apart), the counter is given back,
///   the order fails as out of stock, and the counter is resynchronized from the database.
/// - Stock changes made outside orders (an admin edit) drop the counter (``forget(_:)``); the next order
///   creates it again.
/// - Counters expire after 10 minutes and are created again from the database, which bounds any drift the
///   strategy cannot detect (units given back while Redis was unreachable).
///
/// All counters carry one hash tag (`{inventory}`), so the multi-product script is legal on Redis Cluster; the
/// price is that all counters live in one slot.
public struct RedisCounterStrategy: StockStrategy {
    let client: PostgresClient
    let redis: RedisClient
    let keyPrefix: String
    /// Seconds a counter lives before it is created again from the database: a bound on how long any drift
    /// the strategy cannot see (a give-back lost with Redis down) can last.
    let counterLifetime = 600

    /// Creates the strategy.
    /// - Parameters:
    ///   - client: PostgreSQL.
    ///   - redis: Redis.
    ///   - keyPrefix: Prefix of the counter keys.
    public init(client: PostgresClient, redis: RedisClient, keyPrefix: String = "stock:") {
        self.client = client
        self.redis = redis
        self.keyPrefix = keyPrefix
    }

    public var kind: StockStrategyKind { .redisCounter }

    /// KEYS: counters. ARGV: quantities. Returns 0 when every counter was decremented, `i` when counter `i` is
    /// short, `-i` when counter `i` does not exist (nothing is decremented in either case).
    static let reserve = RedisScript(
        """
        for i, key in ipairs(KEYS) do
          local value = redis.call('GET', key)
          if not value then return -i end
          if tonumber(value) < tonumber(ARGV[i]) then return i end
        end
        for i, key in ipairs(KEYS) do redis.call('DECRBY', key, ARGV[i]) end
        return 0
        """
    )

    /// KEYS: counters. ARGV: quantities. Gives units back to counters that still exist.
    static let giveBack = RedisScript(
        """
        for i, key in ipairs(KEYS) do
          if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[i]) end
        end
        return 0
        """
    )

    func counterKey(_ id: UUID) -> String { "\(self.keyPrefix){inventory}:\(id.uuidString)" }

    public func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        let keys = lines.map { self.counterKey($0.productID) }
        let quantities: [any RESPArgument] = lines.map(\.quantity)
        var initialized = false
        while true {
            let outcome = try await self.redis.eval(Self.reserve, keys: keys, arguments: quantities).decode(
                as: Int.self
            )
            if outcome == 0 { break }
            if outcome > 0 { throw InventoryError.outOfStock([lines[outcome - 1].productID]) }
            // A counter is missing: create the missing ones from the database once, then retry.
            guard !initialized else { throw InventoryError.unknownProduct(lines[-outcome - 1].productID) }
            try await self.initializeCounters(lines.map(\.productID), logger: logger)
            initialized = true
        }
        do {
            return try await self.client.transaction(logger: logger) { connection in
                try await StockQueries.recordThenDecrement(lines, on: connection, logger: logger, record: record)
            }
        } catch {
            do {
                _ = try await self.redis.eval(Self.giveBack, keys: keys, arguments: quantities)
            } catch let giveBackError {
                // The counter now shows fewer units than the database: it undersells until the next resync.
                logger.warning(
                    "could not give reserved units back to the stock counter",
                    metadata: ["error": "\(giveBackError)"]
                )
            }
            if case InventoryError.outOfStock(let ids) = error {
                logger.warning(
                    "stock counter drifted from the database; resynchronizing",
                    metadata: ["products": "\(ids)"]
                )
                for id in ids { try? await self.resynchronize(id, logger: logger) }
            }
            throw error
        }
    }

    /// Creates missing counters from the database's stock (existing counters are left alone).
    func initializeCounters(_ ids: [UUID], logger: Logger) async throws {
        let rows = try await self.client.query(
            "SELECT id, stock FROM products WHERE id = ANY(\(ids))",
            logger: logger
        )
        var commands: [RedisCommand] = []
        for try await (id, stock) in rows.decode((UUID, Int).self) {
            commands.append(RedisCommand("SET", self.counterKey(id), stock, "NX", "EX", self.counterLifetime))
        }
        if !commands.isEmpty { _ = try await self.redis.pipeline(commands) }
    }

    /// Sets a product's counter to the database's stock. Safe when no order for the product is between its
    /// Redis admission and its database commit; call it after stock changes made outside orders.
    /// - Parameters:
    ///   - id: The product.
    ///   - logger: For the query.
    public func resynchronize(_ id: UUID, logger: Logger) async throws {
        let rows = try await self.client.query("SELECT stock FROM products WHERE id = \(id)", logger: logger)
        var stock: Int?
        for try await value in rows.decode(Int.self) { stock = value }
        if let stock {
            _ = try await self.redis.send(RedisCommand("SET", self.counterKey(id), stock, "EX", self.counterLifetime))
        } else {
            try await self.forget(id)
        }
    }

    /// Drops a product's counter; the next order creates it again from the database's stock. Call it after
    /// stock changes made outside orders (an admin's edit): an order admitted meanwhile is still checked by
    /// the database's guard.
    public func forget(_ id: UUID) async throws {
        _ = try await self.redis.delete(self.counterKey(id))
    }
}
