import Logging
import PostgresNIO
import RedisLock
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The `order.placed` event, as the order's transaction writes it to the outbox.
struct OrderPlacedEvent: Codable, Sendable, Equatable {
    struct Item: Codable, Sendable, Equatable {
        var productId: UUID
        var quantity: Int
    }

    var orderId: UUID
    var userId: UUID
    var total: String
    var currency: String
    var units: Int
    var placedAt: Date
    /// The lines (absent in events written before they were added).
    var items: [Item]?
}

/// The brief's internal async flow, consumer side: for each `order.placed`, under a per-user lock, award loyalty
/// points, record the confirmation message, confirm the order and create the buyer's notification — all in one
/// PostgreSQL transaction together with the message's `processed_messages` row, so a redelivered message (a
/// crash, a visibility timeout, a duplicate publish) changes nothing the second time. Then, idempotently in
/// Redis, the day's order counters.
struct OrderPostProcessor: Sendable {
    static let consumer = "order-post-processing"

    let postgres: PostgresClient
    let locks: RedisLocks
    let notifications: Notifications
    let processed: RedisProcessedMessages
    let countersBase: String
    /// Simulated long-running work before the effects (`ORDERS_POST_PROCESSING_DELAY_MS`).
    let delay: Duration
    /// Admins are told about products an order left at or below this many units (0: never).
    let lowStockThreshold: Int
    /// Called after the commit (under the user's lock) with the user's new balance.
    let pointsChanged: @Sendable (UUID, Int64) async -> Void
    let logger: Logger

    /// Handles one message; throwing makes the queue retry it later.
    func handle(_ message: QueueMessage) async throws {
        guard message.type == "order.placed" else {
            throw PostProcessingError("unknown event type \(message.type)")
        }
        let event: OrderPlacedEvent
        do {
            event = try JSONCoding.decoder.decode(OrderPlacedEvent.self, from: Data(buffer: message.payload))
        } catch {
            throw PostProcessingError("undecodable order.placed payload")
        }
        try await self.locks.withLock(
            "user:\(event.userId.uuidString.lowercased())",
            lease: .seconds(15),
            wait: .seconds(30)
        ) { lease in
            if self.delay > .zero { try await Task.sleep(for: self.delay) }
            try lease.checkHeld()
            if let (notifications, balance) = try await self.apply(event, messageID: message.id) {
                await self.pointsChanged(event.userId, balance)
                for (user, notification) in notifications {
                    await self.notifications.service.announce(notification, user: user)
                }
            }
        }
        // Idempotent on its own (a marker next to the counters): runs again on a redelivery after a crash
        // between the commit above and here, and then counts once.
        let day = String(event.placedAt.formatted(.iso8601).prefix(10))
        let cents = Cents.parse(event.total) ?? 0
        try await self.processed.applyOnce(
            message,
            [
                ["HINCRBY", "\(self.countersBase)daily:\(day)", "orders", "1"],
                ["HINCRBY", "\(self.countersBase)daily:\(day)", "units", String(event.units)],
                ["HINCRBY", "\(self.countersBase)daily:\(day)", "revenueCents:\(event.currency)", String(cents)],
                ["EXPIRE", "\(self.countersBase)daily:\(day)", String(40 * 86_400)],
            ]
        )
    }

    /// The database effects, once per message. Returns the notifications created (to announce after the commit),
    /// or nil when the message had been processed before.
    private func apply(_ event: OrderPlacedEvent, messageID: String) async throws -> ([(UUID, Notification)], Int64)? {
        try await self.postgres.transaction(logger: self.logger) { connection in
            let fresh = try await connection.query(
                """
                INSERT INTO processed_messages (consumer, message_id) VALUES (\(Self.consumer), \(messageID))
                ON CONFLICT DO NOTHING RETURNING 1
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in fresh.decode(Int.self) { inserted = true }
            guard inserted else { return nil }
            let points = Int64((Cents.parse(event.total) ?? 0) / 100)
            let users = try await connection.query(
                "UPDATE users SET points = points + \(points) WHERE id = \(event.userId) RETURNING email, points",
                logger: self.logger
            )
            var email = ""
            var balance: Int64 = 0
            for try await (address, total) in users.decode((String, Int64).self) {
                email = address
                balance = total
            }
            try await connection.query(
                """
                INSERT INTO sent_messages (id, user_id, order_id, kind, recipient, subject, body)
                VALUES (\(UUID()), \(event.userId), \(event.orderId), 'order-confirmation', \(email),
                        \("Your order is confirmed"),
                        \("We received your order of \(event.total) \(event.currency). You earned \(points) points."))
                ON CONFLICT (kind, order_id) DO NOTHING
                """,
                logger: self.logger
            )
            try await connection.query(
                """
                UPDATE orders SET status = 'confirmed', updated_at = now() WHERE id = \(event.orderId) AND status = 'placed'
                """,
                logger: self.logger
            )
            var created: [(UUID, Notification)] = []
            created += try await self.lowStock(event, on: connection)
            let buyer = try await self.notifications.repository.insert(
                on: connection,
                user: event.userId,
                kind: "order.placed",
                title: "Order placed",
                body:
                    "Your order of \(event.units) item\(event.units == 1 ? "" : "s") (\(event.total) \(event.currency)) "
                    + "was placed and confirmed; you earned \(points) points.",
                data: [
                    "orderId": event.orderId.uuidString.lowercased(), "total": event.total, "currency": event.currency,
                    "points": String(points), "balance": String(balance),
                ]
            )
            created.insert((event.userId, buyer), at: 0)
            return (created, balance)
        }
    }

    /// `stock.low` for every admin, once per low-stock episode of each product this order took from: the first
    /// post-processing that finds the product at or below the threshold marks it alerted (in this transaction),
    /// and an admin raising its stock clears the mark. Judging by the stock now, not by "this order crossed the
    /// threshold", keeps working when later orders commit before this message is handled.
    private func lowStock(_ event: OrderPlacedEvent, on connection: PostgresConnection) async throws
        -> [(UUID, Notification)]
    {
        let threshold = self.lowStockThreshold
        guard threshold > 0, let items = event.items, !items.isEmpty else { return [] }
        // One statement; the rows are locked in id order, as the order path locks them, so this cannot deadlock
        // with an order (FOR UPDATE re-checks the condition on a row another transaction changed meanwhile).
        let alerted = try await connection.query(
            """
            WITH low AS (
                SELECT id FROM products
                WHERE id = ANY(\(items.map(\.productId))) AND stock <= \(threshold) AND NOT low_stock_alerted
                ORDER BY id FOR UPDATE
            )
            UPDATE products SET low_stock_alerted = true FROM low WHERE products.id = low.id
            RETURNING products.id, products.name, products.stock
            """,
            logger: self.logger
        )
        var crossed: [(UUID, String, Int)] = []
        for try await (product, name, stock) in alerted.decode((UUID, String, Int).self) {
            crossed.append((product, name, stock))
        }
        crossed.sort { $0.0.uuidString < $1.0.uuidString }
        guard !crossed.isEmpty else { return [] }
        let rows = try await connection.query("SELECT id FROM users WHERE role = 'admin'", logger: self.logger)
        var admins: [UUID] = []
        for try await id in rows.decode(UUID.self) { admins.append(id) }
        var created: [(UUID, Notification)] = []
        for (product, name, stock) in crossed {
            for admin in admins {
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: admin,
                    kind: "stock.low",
                    title: "Low stock: \(name)",
                    body: "\(name) has \(stock) unit\(stock == 1 ? "" : "s") left.",
                    data: ["productId": product.uuidString.lowercased(), "stock": String(stock)]
                )
                created.append((admin, notification))
            }
        }
        return created
    }
}

/// A message the post-processor cannot handle (it goes to the dead letters after the retries).
struct PostProcessingError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
