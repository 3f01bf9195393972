public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// `UPDATE products SET stock = stock - n WHERE id = $1 AND stock >= n`, one per line in product order,
/// in the order's transaction. PostgreSQL's row lock serializes concurrent updates of one product and re-checks
/// the condition on the newest row version, so the guard can never be passed twice on the same units.
///
/// The decrements are the transaction's last statements (after the order's inserts), so a hot product's row is
/// locked only from its decrement to the commit; a plain read first refuses orders that are already short.
public struct ConditionalUpdateStrategy: StockStrategy {
    let client: Database

    /// Creates the strategy.
    /// - Parameter client: PostgreSQL.
    public init(client: Database) { self.client = client }

    public var kind: StockStrategyKind { .conditionalUpdate }

    public func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        try await self.client.transaction(logger: logger) { connection in
            try await StockQueries.recordThenDecrement(lines, on: connection, logger: logger, record: record)
        }
    }
}
