import Logging
import PostgresNIO
import RedisLock
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The brief's external async flow, consumer side: a provider event (queued by the webhook) is applied under a
/// per-order lock, through the payment state machine, idempotently by the provider's event id; the user is
/// told the outcome.
struct PaymentEventProcessor: Sendable {
    static let consumer = "payment-events"

    let postgres: PostgresClient
    let locks: RedisLocks
    let notifications: Notifications
    let logger: Logger

    /// An event whose payment we do not know yet (our record of the provider's id may not have committed):
    /// retried later by the queue.
    struct UnknownPayment: Error, CustomStringConvertible {
        let paymentID: String
        var description: String { "no payment has the provider id \(self.paymentID) yet" }
    }

    func handle(_ message: QueueMessage) async throws {
        let event: PaymentWebhookEvent
        do {
            event = try JSONCoding.decoder.decode(PaymentWebhookEvent.self, from: Data(buffer: message.payload))
        } catch {
            throw PostProcessingError("undecodable payment event")
        }
        guard let reported = PaymentState(eventType: event.type) else {
            // Not one we act on (the provider may add types): acknowledged without effect.
            self.logger.info("ignoring a payment event type", metadata: ["type": "\(event.type)"])
            return
        }
        let lockName = "order:\(event.data.orderId ?? event.data.paymentId)"
        try await self.locks.withLock(lockName, lease: .seconds(15), wait: .seconds(30)) { lease in
            try lease.checkHeld()
            if let (user, notification) = try await self.apply(event, reported: reported) {
                await self.notifications.service.announce(notification, user: user)
            }
        }
    }

    /// One transaction: the event id (once), the state change if it moves forward, the order, the notification.
    private func apply(_ event: PaymentWebhookEvent, reported: PaymentState) async throws -> (UUID, Notification)? {
        try await self.postgres.transaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, order_id, user_id, status, amount::text, currency FROM payments
                WHERE provider_payment_id = \(event.data.paymentId) FOR UPDATE
                """,
                logger: self.logger
            )
            var found: (UUID, UUID, UUID, String, String, String)?
            for try await row in rows.decode((UUID, UUID, UUID, String, String, String).self) { found = row }
            guard let (paymentID, orderID, userID, statusText, amount, currency) = found,
                let current = PaymentState(rawValue: statusText)
            else { throw UnknownPayment(paymentID: event.data.paymentId) }
            let next = current.applying(reported)
            let fresh = try await connection.query(
                """
                INSERT INTO payment_events (event_id, payment_id, type, applied)
                VALUES (\(event.id), \(paymentID), \(event.type), \(next != nil))
                ON CONFLICT (event_id) DO NOTHING RETURNING 1
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in fresh.decode(Int.self) { inserted = true }
            // A replayed or duplicated event, or one that arrives after a later state: no effect.
            guard inserted, let next else { return nil }
            try await connection.query(
                "UPDATE payments SET status = \(next.rawValue), updated_at = now() WHERE id = \(paymentID)",
                logger: self.logger
            )
            switch next {
            case .succeeded:
                try await connection.query(
                    """
                    UPDATE orders SET status = 'paid', updated_at = now()
                    WHERE id = \(orderID) AND status IN ('placed', 'confirmed')
                    """,
                    logger: self.logger
                )
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: userID,
                    kind: "payment.succeeded",
                    title: "Payment received",
                    body: "We received your payment of \(amount) \(currency).",
                    data: ["orderId": orderID.uuidString.lowercased(), "amount": amount, "currency": currency]
                )
                return (userID, notification)
            case .failed:
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: userID,
                    kind: "payment.failed",
                    title: "Payment failed",
                    body: "Your payment of \(amount) \(currency) did not go through; you can try again.",
                    data: ["orderId": orderID.uuidString.lowercased(), "amount": amount, "currency": currency]
                )
                return (userID, notification)
            case .pending, .processing:
                return nil
            }
        }
    }
}
