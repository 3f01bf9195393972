import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Once-per-episode low-stock alerts: the inventory module's `products.low_stock_alerted` flag, claimed by other
/// modules only through ``claim(_:threshold:on:logger:)`` inside their own transaction, and cleared when an admin
/// raises the stock.
enum LowStockAlerts {
    /// A product that is low and whose alert this call claimed.
    struct Low: Sendable, Equatable {
        var id: UUID
        var name: String
        var stock: Int
    }

    /// Claims the alert of each of `products` that is at or below `threshold` and not yet alerted in this
    /// episode, in id order. Judging by the stock now — not by "this order crossed the threshold" — keeps working
    /// when later orders commit before the caller runs.
    static func claim(
        _ products: [UUID],
        threshold: Int,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Low] {
        guard threshold > 0, !products.isEmpty else { return [] }
        // One statement; the rows are locked in id order, as the order path locks them, so this cannot deadlock
        // with an order (FOR UPDATE re-checks the condition on a row another transaction changed meanwhile).
        let rows = try await connection.query(
            """
            WITH low AS (
                SELECT id FROM products
                WHERE id = ANY(\(products)) AND stock <= \(threshold) AND NOT low_stock_alerted
                ORDER BY id FOR UPDATE
            )
            UPDATE products SET low_stock_alerted = true FROM low WHERE products.id = low.id
            RETURNING products.id, products.name, products.stock
            """,
            logger: logger
        )
        var claimed: [Low] = []
        for try await (id, name, stock) in rows.decode((UUID, String, Int).self) {
            claimed.append(Low(id: id, name: name, stock: stock))
        }
        return claimed.sorted { $0.id.uuidString < $1.id.uuidString }
    }
}
