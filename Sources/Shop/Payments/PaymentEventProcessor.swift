import Logging
import PostgresNIO
import RedisLock
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The brief's external async flow, consumer side: a provider event (written to the inbox and queued by the
/// webhook) is applied under a per-order lock, through the payment state machine, once per provider event id; the
/// user is told the outcome. The payment, order, notification and inbox changes, and the outbox row's delivery,
/// commit in one transaction.
///
/// An event for a payment we cannot match yet — neither its provider id nor our reference is known — is parked
/// in the inbox (`unmatched`) and acknowledged; it is queued again the moment the payment learns its provider id
/// (``PaymentRepository/setProviderID(_:of:)``). Nothing waits in the queue for it and nothing is dead-lettered.
/// The two transactions are serialized per provider id (``PaymentRepository/lockProviderID(_:on:logger:)``), so
/// an event is never parked after the re-queue has looked.
struct PaymentEventProcessor: Sendable {
    static let consumer = "payment-events"

    let postgres: Database
    let locks: RedisLocks
    let notifications: Notifications
    let logger: Logger

    func handle(_ message: QueueMessage) async throws {
        let event: PaymentWebhookEvent
        do {
            event = try JSONCoding.decoder.decode(PaymentWebhookEvent.self, from: Data(buffer: message.payload))
        } catch {
            throw PostProcessingError("undecodable payment event")
        }
        let lockName = "order:\(event.data.orderId ?? event.data.paymentId)"
        try await self.locks.withLock(lockName, lease: .seconds(15), wait: .seconds(30)) { lease in
            try lease.checkHeld()
            if let (user, notification) = try await self.apply(event, messageID: message.id) {
                await self.notifications.service.announce(notification, user: user)
            }
        }
    }

    /// One transaction: the event id (once), the state change if it moves forward, the order, the notification,
    /// the inbox row, the outbox row. Returns the notification to announce after the commit.
    private func apply(_ event: PaymentWebhookEvent, messageID: String) async throws -> (UUID, Notification)? {
        try await self.postgres.transaction(logger: self.logger) { connection in
            try await Outbox.complete(messageID, on: connection, logger: self.logger)
            guard let reported = PaymentState(eventType: event.type) else {
                // Not one we act on (the provider may add types): recorded, without effect.
                try await PaymentRepository.markEvent(event.id, status: "ignored", on: connection, logger: self.logger)
                return nil
            }
            guard let payment = try await PaymentRepository.lockForEvent(event, on: connection, logger: self.logger)
            else {
                self.logger.info(
                    "payment event for a payment not known yet; parked until its provider id is recorded",
                    metadata: ["event": "\(event.id)"]
                )
                try await PaymentRepository.markEvent(
                    event.id,
                    status: "unmatched",
                    on: connection,
                    logger: self.logger
                )
                return nil
            }
            guard let current = PaymentState(rawValue: payment.status) else {
                throw PostProcessingError("payment \(payment.id) has an unknown status")
            }
            let next = current.applying(reported)
            let fresh = try await PaymentRepository.recordEvent(
                event,
                payment: payment.id,
                applied: next != nil,
                on: connection,
                logger: self.logger
            )
            try await PaymentRepository.markEvent(
                event.id,
                status: next == nil ? "outdated" : "applied",
                on: connection,
                logger: self.logger
            )
            // A replayed or duplicated event, or one that arrives after a later state: no effect.
            guard fresh, let next else { return nil }
            try await PaymentRepository.setStatus(next, of: payment.id, on: connection, logger: self.logger)
            let data = [
                "orderId": payment.order.uuidString.lowercased(), "amount": payment.amount,
                "currency": payment.currency,
            ]
            switch next {
            case .succeeded:
                try await OrderTransitions.markPaid(payment.order, on: connection, logger: self.logger)
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: payment.user,
                    kind: "payment.succeeded",
                    title: "Payment received",
                    body: "We received your payment of \(payment.amount) \(payment.currency).",
                    data: data
                )
                return (payment.user, notification)
            case .failed:
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: payment.user,
                    kind: "payment.failed",
                    title: "Payment failed",
                    body:
                        "Your payment of \(payment.amount) \(payment.currency) did not go through; you can try again.",
                    data: data
                )
                return (payment.user, notification)
            case .pending, .processing:
                return nil
            }
        }
    }
}
