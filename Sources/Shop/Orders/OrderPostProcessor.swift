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
/// PostgreSQL transaction that also marks the order processed and the outbox row delivered, so a redelivered
/// message (a crash, a visibility timeout, a re-send by the outbox, a replayed dead letter of any age) changes
/// nothing the second time. Each module's tables are written through that module's calls (``PointsLedger``,
/// ``LowStockAlerts``, ``OrderTransitions``, the notification inbox, ``Outbox``).
///
/// After the commit, on every delivery — also a redelivery that found the effects committed — the copies in Redis
/// are brought up to date: the buyer's points (versioned, never backwards), the cached products the order took
/// stock from, the day's order counters (once, by a marker next to them). A copy that cannot be written makes the
/// message fail transiently, so it is delivered again and the copy repaired; nothing is left to a TTL.
struct OrderPostProcessor: Sendable {
    static let consumer = "order-post-processing"
    /// How long the day's order counters live in Redis.
    static let counterLifetime = Duration.seconds(40 * 86_400)

    let postgres: Database
    let locks: RedisLocks
    let notifications: Notifications
    let processed: RedisProcessedMessages
    let countersBase: String
    /// Simulated long-running work before the effects (`ORDERS_POST_PROCESSING_DELAY_MS`).
    let delay: Duration
    /// Admins are told about products an order left at or below this many units (0: never).
    let lowStockThreshold: Int
    /// The copy of users' points that `/me` reads.
    let points: PointsReader
    /// Evicts a product's cached entry; false when Redis could not be reached.
    let productChanged: @Sendable (UUID) async -> Bool
    let logger: Logger

    /// What the transaction did.
    private struct Outcome: Sendable {
        /// The notifications created now (none when the order had been processed before).
        var created: [(UUID, Notification)]
        /// The buyer's balance as committed.
        var balance: PointsBalance
    }

    /// Handles one message; throwing makes the queue retry it later (transient failures without counting).
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
            let outcome = try await self.apply(event, messageID: message.id)
            // Throws when Redis cannot take it: the message is delivered again and the copy repaired.
            try await self.points.store(outcome.balance, of: event.userId)
            for (user, notification) in outcome.created {
                await self.notifications.service.announce(notification, user: user)
            }
        }
        for item in event.items ?? [] where await !self.productChanged(item.productId) {
            throw QueueTransientFailure(PostProcessingError("the cached product could not be evicted"))
        }
        try await self.countOnce(event, message: message)
    }

    /// The day's counters, once per message (a marker next to them, in one script). An event older than the
    /// counters' lifetime (a dead letter replayed much later) no longer counts: its day's counters are gone, and
    /// its marker may be too.
    private func countOnce(_ event: OrderPlacedEvent, message: QueueMessage) async throws {
        guard Date().timeIntervalSince(event.placedAt) < Double(Self.counterLifetime.components.seconds) else {
            return
        }
        let day = String(event.placedAt.formatted(.iso8601).prefix(10))
        let cents = Cents.parse(event.total) ?? 0
        let key = "\(self.countersBase)daily:\(day)"
        try await self.processed.applyOnce(
            message,
            [
                ["HINCRBY", key, "orders", "1"],
                ["HINCRBY", key, "units", String(event.units)],
                ["HINCRBY", key, "revenueCents:\(event.currency)", String(cents)],
                ["EXPIRE", key, String(Self.counterLifetime.components.seconds)],
            ]
        )
    }

    /// The database effects, once per order, and the outbox row's delivery.
    private func apply(_ event: OrderPlacedEvent, messageID: String) async throws -> Outcome {
        try await self.postgres.transaction(logger: self.logger) { connection in
            try await Outbox.complete(messageID, on: connection, logger: self.logger)
            guard try await OrderTransitions.markProcessed(event.orderId, on: connection, logger: self.logger) else {
                // Processed before: nothing again, but the copies are refreshed from what is committed.
                let balance = try await PointsLedger.balance(of: event.userId, on: connection, logger: self.logger)
                return Outcome(created: [], balance: balance)
            }
            let points = Int64((Cents.parse(event.total) ?? 0) / 100)
            guard
                let (email, balance) = try await PointsLedger.award(
                    points,
                    to: event.userId,
                    on: connection,
                    logger: self.logger
                )
            else {
                // The buyer's account is gone (its orders went with it): nothing to award or tell.
                return Outcome(created: [], balance: PointsBalance(points: 0, version: 0))
            }
            try await OrderTransitions.recordMessage(
                order: event.orderId,
                user: event.userId,
                recipient: email,
                total: event.total,
                currency: event.currency,
                points: points,
                on: connection,
                logger: self.logger
            )
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
                    "points": String(points), "balance": String(balance.points),
                ]
            )
            let alerts = try await self.lowStock(event, on: connection)
            return Outcome(created: [(event.userId, buyer)] + alerts, balance: balance)
        }
    }

    /// `stock.low` for every admin, once per low-stock episode of each product this order took from.
    private func lowStock(_ event: OrderPlacedEvent, on connection: PostgresConnection) async throws
        -> [(UUID, Notification)]
    {
        let low = try await LowStockAlerts.claim(
            (event.items ?? []).map(\.productId),
            threshold: self.lowStockThreshold,
            on: connection,
            logger: self.logger
        )
        guard !low.isEmpty else { return [] }
        let admins = try await Administrators.ids(on: connection, logger: self.logger)
        var created: [(UUID, Notification)] = []
        for product in low {
            for admin in admins {
                let notification = try await self.notifications.repository.insert(
                    on: connection,
                    user: admin,
                    kind: "stock.low",
                    title: "Low stock: \(product.name)",
                    body: "\(product.name) has \(product.stock) unit\(product.stock == 1 ? "" : "s") left.",
                    data: ["productId": product.id.uuidString.lowercased(), "stock": String(product.stock)]
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
