import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Changes of an order that other flows make, on their own transaction: the post-processing's marker and
/// confirmation, the confirmation message to the buyer, and payment.
enum OrderTransitions {
    /// Marks the order post-processed, confirming it if it is still `placed` (a paid order stays paid).
    ///
    /// The marker lives on the order, as long as the order: a redelivered event, or a dead letter replayed at any
    /// age, finds it and applies nothing twice.
    /// - Returns: True when this call marked it; false when it had been processed before (or does not exist).
    static func markProcessed(_ order: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            """
            UPDATE orders SET processed_at = now(), updated_at = now(),
                status = CASE WHEN status = 'placed' THEN 'confirmed' ELSE status END
            WHERE id = \(order) AND processed_at IS NULL
            RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// Records the confirmation message sent to the buyer (at most one per order).
    static func recordMessage(
        order: UUID,
        user: UUID,
        recipient: String,
        total: String,
        currency: String,
        points: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO sent_messages (id, user_id, order_id, kind, recipient, subject, body)
            VALUES (\(UUID()), \(user), \(order), 'order-confirmation', \(recipient),
                    \("Your order is confirmed"),
                    \("We received your order of \(total) \(currency). You earned \(points) points."))
            ON CONFLICT (kind, order_id) DO NOTHING
            """,
            logger: logger
        )
    }

    /// Marks the order paid, if it is `placed` or `confirmed` (a payment's success, applied once).
    static func markPaid(_ order: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE orders SET status = 'paid', updated_at = now()
            WHERE id = \(order) AND status IN ('placed', 'confirmed')
            """,
            logger: logger
        )
    }
}
