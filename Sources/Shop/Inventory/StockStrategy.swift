public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// How stock is taken when an order is placed; chosen with `INVENTORY_STRATEGY`.
public enum StockStrategyKind: String, Sendable, CaseIterable {
    /// A Redis lock per product around a read-modify-write in PostgreSQL whose UPDATE checks the fencing token.
    case lock
    /// An atomic Lua reservation on Redis stock counters, then a guarded decrement in PostgreSQL.
    case redisCounter = "redis-counter"
    /// `SELECT ... FOR UPDATE` on the product rows, then the decrement.
    case selectForUpdate = "select-for-update"
    /// One `UPDATE ... SET stock = stock - n WHERE stock >= n` per product.
    case conditionalUpdate = "conditional-update"
}

/// One product and how many units of it an order takes.
public struct StockLine: Sendable, Hashable {
    /// The product.
    public var productID: UUID
    /// Units, at least 1.
    public var quantity: Int

    /// Creates a line.
    public init(productID: UUID, quantity: Int) {
        self.productID = productID
        self.quantity = quantity
    }

    /// Lines for the same product merged, sorted by product id: every strategy locks in this order, so two
    /// orders for the same products can never wait for each other in a cycle.
    public static func normalized(_ lines: [StockLine]) -> [StockLine] {
        var quantities: [UUID: Int] = [:]
        for line in lines { quantities[line.productID, default: 0] += line.quantity }
        return quantities.map { StockLine(productID: $0.key, quantity: $0.value) }
            .sorted { $0.productID.uuidString < $1.productID.uuidString }
    }
}

/// What an order needs to know about a product whose stock it took.
public struct PricedProduct: Sendable, Hashable {
    /// The product.
    public var id: UUID
    /// Unit price as a decimal string with two places.
    public var price: String
    /// ISO 4217 code.
    public var currency: String
}

/// Why stock could not be taken.
public enum InventoryError: Error, Sendable, Equatable {
    /// Not enough units of these products (nothing was taken).
    case outOfStock([UUID])
    /// No product has this id.
    case unknownProduct(UUID)
    /// The lock strategy's lease was lost before its write (the fencing check refused it); nothing was taken.
    case lockLost(UUID)
    /// The lock strategy could not get this product's lock within its wait; nothing was taken.
    case busy(UUID)
}

/// Takes stock for every line of an order or for none, and records the order in the same transaction.
public protocol StockStrategy: Sendable {
    /// Which strategy this is.
    var kind: StockStrategyKind { get }

    /// Takes the stock for `lines` and, inside the same PostgreSQL transaction, calls `record` to write the
    /// order. If anything fails, no stock is taken and no order is written.
    /// - Parameters:
    ///   - lines: Normalized lines (see ``StockLine/normalized(_:)``).
    ///   - logger: For queries.
    ///   - record: Writes the order on the transaction's connection, given each product's price.
    /// - Returns: What `record` returns.
    /// - Throws: ``InventoryError`` when stock is short or a product is unknown; database errors.
    func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result
}

/// Queries the strategies share.
enum StockQueries {
    struct Row {
        var stock: Int
        var fence: Int64
        var product: PricedProduct
    }

    /// Stock, fence and price of the products, optionally locking their rows in id order.
    static func rows(
        _ ids: [UUID],
        on connection: PostgresConnection,
        forUpdate: Bool,
        logger: Logger
    ) async throws -> [UUID: Row] {
        let query: PostgresQuery =
            forUpdate
            ? "SELECT id, stock, lock_fence, price::text, currency FROM products WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE"
            : "SELECT id, stock, lock_fence, price::text, currency FROM products WHERE id = ANY(\(ids))"
        var result: [UUID: Row] = [:]
        for try await (id, stock, fence, price, currency) in try await connection.query(query, logger: logger)
            .decode((UUID, Int, Int64, String, String).self)
        {
            result[id] = Row(
                stock: stock,
                fence: fence,
                product: PricedProduct(id: id, price: price, currency: currency)
            )
        }
        return result
    }

    /// Throws for the first unknown product, then for every short one.
    static func check(_ lines: [StockLine], against rows: [UUID: Row]) throws {
        for line in lines where rows[line.productID] == nil { throw InventoryError.unknownProduct(line.productID) }
        let short = lines.filter { rows[$0.productID]!.stock < $0.quantity }.map(\.productID)
        if !short.isEmpty { throw InventoryError.outOfStock(short) }
    }

    /// The order path of the atomic strategies, shaped to hold the product rows' locks as briefly as possible:
    /// a plain read (prices, and an early "short" answer that needs no lock), then `record` (the order's
    /// inserts), then the guarded decrements, then the commit. A row is locked from its decrement to the
    /// commit only, so concurrent orders of one product queue for two round trips, not the whole transaction.
    static func recordThenDecrement<Result: Sendable>(
        _ lines: [StockLine],
        on connection: PostgresConnection,
        logger: Logger,
        record: @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        let rows = try await Self.rows(lines.map(\.productID), on: connection, forUpdate: false, logger: logger)
        try Self.check(lines, against: rows)
        let result = try await record(connection, rows.mapValues(\.product))
        // Lines are in product order, so two orders of the same products lock them in the same order.
        for line in lines where try await !Self.decrement(line, on: connection, logger: logger) {
            throw InventoryError.outOfStock([line.productID])
        }
        return result
    }

    /// `UPDATE ... SET stock = stock - n WHERE stock >= n`: true when applied, false when short.
    static func decrement(_ line: StockLine, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            """
            UPDATE products SET stock = stock - \(line.quantity), version = version + 1, updated_at = now()
            WHERE id = \(line.productID) AND stock >= \(line.quantity)
            RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }
}
