import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Payments in PostgreSQL.
struct PaymentRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    enum Start {
        /// No order of this user has this id.
        case noOrder
        /// The order is paid (or has a successful payment).
        case alreadyPaid
        /// The order cannot be paid in its status.
        case notPayable(String)
        /// The payment to send to the provider (new, or the open one being retried).
        case payment(Payment)
    }

    static let columns = "id, order_id, status, amount::text, currency, provider_payment_id, created_at, updated_at"

    /// Finds the order's open payment or starts a new one, under the order's row lock.
    func start(user: UUID, order: UUID) async throws -> Start {
        try await self.client.transaction(logger: self.logger) { connection in
            let orders = try await connection.query(
                """
                SELECT status, total::text, currency FROM orders WHERE id = \(order) AND user_id = \(user) FOR UPDATE
                """,
                logger: self.logger
            )
            var found: (String, String, String)?
            for try await row in orders.decode((String, String, String).self) { found = row }
            guard let (status, total, currency) = found else { return .noOrder }
            if status == "paid" { return .alreadyPaid }
            guard status == "placed" || status == "confirmed" else { return .notPayable(status) }
            let open = try await connection.query(
                """
                SELECT \(unescaped: Self.columns) FROM payments
                WHERE order_id = \(order) AND status IN ('pending', 'processing', 'succeeded')
                """,
                logger: self.logger
            )
            if let payment = try await Self.decode(open).first {
                return payment.status == "succeeded" ? .alreadyPaid : .payment(payment)
            }
            let created = try await connection.query(
                """
                INSERT INTO payments (id, order_id, user_id, attempt, amount, currency)
                SELECT \(UUID()), \(order), \(user), coalesce(max(attempt), 0) + 1, \(total)::numeric, \(currency)
                FROM payments WHERE order_id = \(order)
                RETURNING \(unescaped: Self.columns)
                """,
                logger: self.logger
            )
            guard let payment = try await Self.decode(created).first else { throw PaymentMissing() }
            return .payment(payment)
        }
    }

    /// Records the provider's id of a payment (once).
    func setProviderID(_ providerID: String, of payment: UUID) async throws -> Payment? {
        let rows = try await self.client.query(
            """
            UPDATE payments SET provider_payment_id = coalesce(provider_payment_id, \(providerID)), updated_at = now()
            WHERE id = \(payment) RETURNING \(unescaped: Self.columns)
            """,
            logger: self.logger
        )
        return try await Self.decode(rows).first
    }

    /// A user's payments of one order, newest first.
    func payments(user: UUID, order: UUID) async throws -> [Payment] {
        let rows = try await self.client.query(
            """
            SELECT \(unescaped: Self.columns) FROM payments
            WHERE order_id = \(order) AND user_id = \(user) ORDER BY attempt DESC
            """,
            logger: self.logger
        )
        return try await Self.decode(rows)
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [Payment] {
        var payments: [Payment] = []
        for try await (id, order, status, amount, currency, provider, created, updated) in rows.decode(
            (UUID, UUID, String, String, String, String?, Date, Date).self
        ) {
            payments.append(
                Payment(
                    id: id,
                    orderId: order,
                    status: status,
                    amount: amount,
                    currency: currency,
                    providerPaymentId: provider,
                    createdAt: created,
                    updatedAt: updated
                )
            )
        }
        return payments
    }

    struct PaymentMissing: Error {}
}
