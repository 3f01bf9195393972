public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Locks the product rows with `SELECT ... FOR UPDATE` (in id order), checks every line, then decrements.
/// Concurrent orders for the same product wait for the row lock and read the committed stock after it.
public struct SelectForUpdateStrategy: StockStrategy {
    let client: Database

    /// Creates the strategy.
    /// - Parameter client: PostgreSQL.
    public init(client: Database) { self.client = client }

    public var kind: StockStrategyKind { .selectForUpdate }

    public func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        try await self.client.transaction(logger: logger) { connection in
            let rows = try await StockQueries.rows(
                lines.map(\.productID),
                on: connection,
                forUpdate: true,
                logger: logger
            )
            try StockQueries.check(lines, against: rows)
            for line in lines {
                try await connection.query(
                    """
                    UPDATE products SET stock = stock - \(line.quantity), version = version + 1, updated_at = now()
                    WHERE id = \(line.productID)
                    """,
                    logger: logger
                )
            }
            return try await record(connection, rows.mapValues(\.product))
        }
    }
}
