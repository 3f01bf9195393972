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
/// PostgreSQL stays the source of truth, and the counters never decide an answer on their own: an admission is
/// checked by the database's guarded decrement, and a refusal by the database's stock. So a counter that drifted
/// either way can neither oversell nor refuse an order the stock can serve; drift only costs work, and is
/// corrected when it shows:
/// - A missing counter is created from the database's stock (`SET NX`, so concurrent creators agree).
/// - If the database transaction fails after admission, the units are given back (`INCRBY`).
/// - Counter too high (a give-back for an order that did commit, a resynchronization while reservations were in
///   flight, Redis restored from an older snapshot): the database refuses the decrement Redis admitted, the order
///   fails as out of stock, the units are given back and the counter is set again from the database.
/// - Counter too low (a crash between a reservation and its commit, a give-back lost with Redis down): the
///   refusal is checked against the database, which serves the order, and the counter is set again.
/// - Stock changes made outside orders (an admin edit) drop the counter (``forget(_:)``); the next order
///   creates it again. Counters also expire after 10 minutes.
///
/// All counters carry one hash tag (`{inventory}`), so the multi-product script is legal on Redis Cluster; the
/// price is that all counters live in one slot.
public struct RedisCounterStrategy: StockStrategy {
    let client: Database
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
    public init(client: Database, redis: RedisClient, keyPrefix: String = "stock:") {
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
            if outcome > 0 { return try await self.confirmRefusal(lines, logger: logger, record: record) }
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

    /// The counter says a line is short. The counter only admits; PostgreSQL decides a refusal: a counter that
    /// leaked units (a crash between a reservation and its commit, a give-back that never reached Redis) must not
    /// refuse orders the stock can serve — and a refusal is stored as the key's idempotent answer. So the order
    /// runs the database's guarded transaction without the counter: short there too, it is refused (with no lock
    /// taken: the plain read refuses first); served, the counter was low and is set again from the database.
    private func confirmRefusal<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        let result = try await self.client.transaction(logger: logger) { connection in
            try await StockQueries.recordThenDecrement(lines, on: connection, logger: logger, record: record)
        }
        logger.warning(
            "stock counter was lower than the database; resynchronizing",
            metadata: ["products": "\(lines.map(\.productID))"]
        )
        for line in lines { try? await self.resynchronize(line.productID, logger: logger) }
        return result
    }

    /// Creates missing counters from the database's stock (existing counters are left alone).
    func initializeCounters(_ ids: [UUID], logger: Logger) async throws {
        let rows = try await self.client.query(
            "SELECT id, stock FROM products WHERE id = ANY(\(ids))",
            logger: logger
        )
        var commands: [RedisCommand] = []
        for try await (id, stock) in rows.decode((UUID, Int).self) {
            commands.append(RedisCommand("SET", key: self.counterKey(id), stock, "NX", "EX", self.counterLifetime))
        }
        if !commands.isEmpty { _ = try await self.redis.pipeline(commands) }
    }

    /// Sets a product's counter to the database's stock. Orders between their Redis admission and their commit
    /// can leave it too high by their units until the next correction (never an oversell: the database guards
    /// every admission).
    /// - Parameters:
    ///   - id: The product.
    ///   - logger: For the query.
    public func resynchronize(_ id: UUID, logger: Logger) async throws {
        let rows = try await self.client.query("SELECT stock FROM products WHERE id = \(id)", logger: logger)
        var stock: Int?
        for try await value in rows.decode(Int.self) { stock = value }
        if let stock {
            _ = try await self.redis.send(
                RedisCommand("SET", key: self.counterKey(id), stock, "EX", self.counterLifetime)
            )
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
