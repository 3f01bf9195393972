public import Logging
public import PostgresNIO
public import RedisLock

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The brief's distributed-lock experiment: a Redis lock per product (taken in id order) around a plain
/// read-modify-write in PostgreSQL. The write carries the lock's fencing token and only applies if no
/// newer holder has written (`lock_fence < token`), so a holder whose lease expired mid-way cannot
/// overwrite the stock a newer holder computed.
///
/// Orders that a plain read already shows to be short are refused without the lock. A product lock not
/// obtained within the configured wait ends the order with ``InventoryError/busy(_:)``.
public struct RedisLockStrategy: StockStrategy {
    let client: PostgresClient
    let locks: RedisLocks
    let lease: Duration
    let wait: Duration

    /// Creates the strategy.
    /// - Parameters:
    ///   - client: PostgreSQL.
    ///   - locks: The lock manager.
    ///   - lease: Lease per product lock.
    ///   - wait: How long to wait for a product lock before giving up.
    public init(client: PostgresClient, locks: RedisLocks, lease: Duration, wait: Duration) {
        self.client = client
        self.locks = locks
        self.lease = lease
        self.wait = wait
    }

    public var kind: StockStrategyKind { .lock }

    public func take<Result: Sendable>(
        _ lines: [StockLine],
        logger: Logger,
        record: @escaping @Sendable (PostgresConnection, [UUID: PricedProduct]) async throws -> Result
    ) async throws -> Result {
        // A committed read that already shows too little stock is a correct answer on its own (stock only
        // grows through an admin's write, which could as well have come later): no lock needed to say no.
        // Once a product sells out, refusals stop queueing behind the buyers that still hold its lock.
        let snapshot = try await self.client.withConnection { connection in
            try await StockQueries.rows(lines.map(\.productID), on: connection, forUpdate: false, logger: logger)
        }
        try StockQueries.check(lines, against: snapshot)

        var leases: [RedisLockLease] = []
        do {
            for line in lines {
                do {
                    leases.append(
                        try await self.locks.acquire(
                            "stock:\(line.productID.uuidString)",
                            lease: self.lease,
                            wait: self.wait
                        )
                    )
                } catch let error as RedisLockError where error.isTimeout {
                    throw InventoryError.busy(line.productID)
                }
            }
            let fences = Dictionary(uniqueKeysWithValues: zip(lines.map(\.productID), leases.map(\.fencingToken)))
            let result = try await self.client.transaction(logger: logger) { connection in
                let rows = try await StockQueries.rows(
                    lines.map(\.productID),
                    on: connection,
                    forUpdate: false,
                    logger: logger
                )
                try StockQueries.check(lines, against: rows)
                for line in lines {
                    let newStock = rows[line.productID]!.stock - line.quantity
                    let fence = fences[line.productID]!
                    let updated = try await connection.query(
                        """
                        UPDATE products SET stock = \(newStock), lock_fence = \(fence), version = version + 1,
                            updated_at = now()
                        WHERE id = \(line.productID) AND lock_fence < \(fence)
                        RETURNING id
                        """,
                        logger: logger
                    )
                    var applied = false
                    for try await _ in updated.decode(UUID.self) { applied = true }
                    guard applied else { throw InventoryError.lockLost(line.productID) }
                }
                return try await record(connection, rows.mapValues(\.product))
            }
            await Self.release(leases, logger: logger)
            return result
        } catch {
            await Self.release(leases, logger: logger)
            throw error
        }
    }

    private static func release(_ leases: [RedisLockLease], logger: Logger) async {
        for lease in leases.reversed() {
            do {
                try await lease.release()
            } catch {
                logger.warning("stock lock release failed; its lease will expire", metadata: ["error": "\(error)"])
            }
        }
    }
}
