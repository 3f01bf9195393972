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
/// The write also checks that the stock is still what the holder read, so an admin's edit made meanwhile (it
/// does not take the lock) is not overwritten: the holder computes again from the new value. Orders that a
/// plain read already shows to be short are refused without the lock. A product lock not
/// obtained within the configured wait ends the order with ``InventoryError/busy(_:)``.
public struct RedisLockStrategy: StockStrategy {
    let client: Database
    let locks: RedisLocks
    let lease: Duration
    let wait: Duration

    /// Creates the strategy.
    /// - Parameters:
    ///   - client: PostgreSQL.
    ///   - locks: The lock manager.
    ///   - lease: Lease per product lock.
    ///   - wait: How long to wait for a product lock before giving up.
    public init(client: Database, locks: RedisLocks, lease: Duration, wait: Duration) {
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
                    try await Self.write(
                        line,
                        read: rows[line.productID]!.stock,
                        fence: fences[line.productID]!,
                        on: connection,
                        logger: logger
                    )
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

    /// Writes the stock computed from `read`, only if this holder's fence is still the newest and the stock is
    /// still what it read. Orders all go through the lock, but an admin's edit does not: when the stock moved
    /// under the holder, it computes again from the new value instead of overwriting the edit.
    private static func write(
        _ line: StockLine,
        read: Int,
        fence: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        var current = read
        for _ in 0..<5 {
            guard current >= line.quantity else { throw InventoryError.outOfStock([line.productID]) }
            let updated = try await connection.query(
                """
                UPDATE products SET stock = \(current - line.quantity), lock_fence = \(fence), version = version + 1,
                    updated_at = now()
                WHERE id = \(line.productID) AND lock_fence < \(fence) AND stock = \(current)
                RETURNING 1
                """,
                logger: logger
            )
            for try await _ in updated.decode(Int.self) { return }
            let rows = try await StockQueries.rows([line.productID], on: connection, forUpdate: false, logger: logger)
            guard let row = rows[line.productID] else { throw InventoryError.unknownProduct(line.productID) }
            // A newer holder wrote: this holder's lease ended, and what it read may be stale.
            if row.fence >= fence { throw InventoryError.lockLost(line.productID) }
            current = row.stock
        }
        throw InventoryError.busy(line.productID)
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
