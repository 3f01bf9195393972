import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Payments in PostgreSQL.
struct PaymentRepository: Sendable {
    let client: Database
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

    /// Records the provider's id of a payment (once), and queues again any provider event that arrived for that id
    /// before we knew it (parked as `unmatched`), in the same transaction.
    ///
    /// Takes the provider id's lock (``lockProviderID(_:on:logger:)``) first, as the event consumer does.
    func setProviderID(_ providerID: String, of payment: UUID) async throws -> Payment? {
        try await self.client.transaction(logger: self.logger) { connection in
            try await Self.lockProviderID(providerID, on: connection, logger: self.logger)
            let rows = try await connection.query(
                """
                UPDATE payments SET provider_payment_id = coalesce(provider_payment_id, \(providerID)), updated_at = now()
                WHERE id = \(payment) RETURNING \(unescaped: Self.columns)
                """,
                logger: self.logger
            )
            let updated = try await Self.decode(rows).first
            if let updated, let known = updated.providerPaymentId {
                try await Self.requeueUnmatched(providerID: known, on: connection, logger: self.logger)
            }
            return updated
        }
    }

    /// Writes a verified provider event to the inbox and, if it is new, queues it (an outbox row) in the same
    /// transaction: once this returns, the event is durable and will be applied.
    /// - Returns: False when the event id was received before (a redelivery; it has one effect).
    func accept(
        _ event: PaymentWebhookEvent,
        payload: String,
        headers: [String: String]
    ) async throws -> Bool {
        try await self.client.transaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO provider_events
                    (event_id, type, provider_payment_id, payment_reference, order_reference, payload)
                VALUES (\(event.id), \(event.type), \(event.data.paymentId), \(event.data.reference),
                        \(event.data.orderId), \(payload))
                ON CONFLICT (event_id) DO NOTHING RETURNING 1
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in rows.decode(Int.self) { inserted = true }
            guard inserted else { return false }
            try await Outbox.append(
                OutboxEvent(
                    topic: "payments",
                    type: event.type,
                    key: event.data.orderId ?? event.data.paymentId,
                    payload: payload,
                    headers: headers
                ),
                on: connection,
                logger: self.logger
            )
            return true
        }
    }

    /// Serializes, per provider payment id, the transactions that record that id on a payment
    /// (``setProviderID(_:of:)``) and those that apply or park an event for it (``lockForEvent(_:on:logger:)``), for
    /// the rest of the caller's transaction (`pg_advisory_xact_lock` on a hash of the id; a collision only
    /// serializes two unrelated ids).
    ///
    /// Without it the two can miss each other: a consumer that does not see the id yet, because the transaction
    /// recording it has not committed, parks its event after that transaction looked for parked events — and
    /// nothing queues the event again (found by the chaos run, seed 2 of the sentinel mode, with a webhook and a
    /// retried pay request). With it, whichever runs second sees what the first committed: the consumer sees the id
    /// (each statement of a READ COMMITTED transaction sees what committed before it began), or the re-queue sees the
    /// parked event.
    static func lockProviderID(_ providerID: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtextextended('payments.provider_payment_id:' || \(providerID), 0))",
            logger: logger
        )
    }

    /// Queues again the events parked for a provider payment id that is now known.
    static func requeueUnmatched(providerID: String, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(
            """
            UPDATE provider_events SET status = 'queued', handled_at = NULL
            WHERE provider_payment_id = \(providerID) AND status = 'unmatched'
            RETURNING type, coalesce(order_reference, provider_payment_id), payload
            """,
            logger: logger
        )
        var events: [OutboxEvent] = []
        for try await (type, key, payload) in rows.decode((String, String, String).self) {
            events.append(OutboxEvent(topic: "payments", type: type, key: key, payload: payload))
        }
        for event in events { try await Outbox.append(event, on: connection, logger: logger) }
    }

    /// The payment an event is about, locked for the caller's transaction: by the provider's id, else by our own
    /// id echoed as the event's reference (the provider call succeeded but our record of its id never committed —
    /// the id is recorded now). Nil when no payment of ours matches.
    static func lockForEvent(
        _ event: PaymentWebhookEvent,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> LockedPayment? {
        // Before looking: a transaction recording this id either committed already (and is seen below) or waits
        // until this one has parked the event (and then queues it again).
        try await Self.lockProviderID(event.data.paymentId, on: connection, logger: logger)
        let byProvider = try await connection.query(
            """
            SELECT id, order_id, user_id, status, amount::text, currency FROM payments
            WHERE provider_payment_id = \(event.data.paymentId) FOR UPDATE
            """,
            logger: logger
        )
        if let found = try await LockedPayment.first(byProvider) { return found }
        guard let reference = event.data.reference.flatMap(UUID.init(uuidString:)) else { return nil }
        let byReference = try await connection.query(
            """
            UPDATE payments SET provider_payment_id = \(event.data.paymentId), updated_at = now()
            WHERE id = \(reference) AND provider_payment_id IS NULL
            RETURNING id, order_id, user_id, status, amount::text, currency
            """,
            logger: logger
        )
        guard let found = try await LockedPayment.first(byReference) else { return nil }
        // Events for this provider id that came before any of ours could be matched can now be applied.
        try await Self.requeueUnmatched(providerID: event.data.paymentId, on: connection, logger: logger)
        return found
    }

    /// Records the event against the payment, once per event id.
    /// - Returns: False when the event id was applied (or found outdated) before.
    static func recordEvent(
        _ event: PaymentWebhookEvent,
        payment: UUID,
        applied: Bool,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO payment_events (event_id, payment_id, type, applied)
            VALUES (\(event.id), \(payment), \(event.type), \(applied))
            ON CONFLICT (event_id) DO NOTHING RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// Moves the payment to `state`.
    static func setStatus(
        _ state: PaymentState,
        of payment: UUID,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            "UPDATE payments SET status = \(state.rawValue), updated_at = now() WHERE id = \(payment)",
            logger: logger
        )
    }

    /// Records what became of an inbox event: `applied`, `outdated`, `ignored` or `unmatched`.
    static func markEvent(
        _ eventID: String,
        status: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            "UPDATE provider_events SET status = \(status), handled_at = now() WHERE event_id = \(eventID)",
            logger: logger
        )
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

    static func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [Payment] {
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

    /// A payment locked for applying a provider event.
    struct LockedPayment: Sendable {
        var id: UUID
        var order: UUID
        var user: UUID
        var status: String
        var amount: String
        var currency: String

        static func first(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> LockedPayment? {
            for try await (id, order, user, status, amount, currency) in rows.decode(
                (UUID, UUID, UUID, String, String, String).self
            ) {
                return LockedPayment(
                    id: id,
                    order: order,
                    user: user,
                    status: status,
                    amount: amount,
                    currency: currency
                )
            }
            return nil
        }
    }
}
