public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// `UPDATE products SET stock = stock - n WHERE id = $1 AND stock >= n`, one per line in product order,
/// in one transaction. PostgreSQL's row lock serializes concurrent updates of one product and re-checks the
/// condition on the newest row version, so the guard can never be passed twice on the same units.
public struct ConditionalUpdateStrategy: StockStrategy {
    let client: PostgresClient

    /// Creates the strategy.
    /// - Parameter client: PostgreSQL.
    public init(client: PostgresClient) { self.client = client }

    public var kind: StockStrategyKind { .conditionalUpdate }

    public func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        try await self.client.transaction(logger: logger) { connection in
            var products: [UUID: PricedProduct] = [:]
            for line in lines {
                guard let product = try await StockQueries.decrement(line, on: connection, logger: logger) else {
                    throw try await StockQueries.failure(for: line, on: connection, logger: logger)
                }
                products[line.productID] = product
            }
            return try await record(connection, products)
        }
    }
}
