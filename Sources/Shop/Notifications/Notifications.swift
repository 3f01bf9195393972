import Logging
import PostgresNIO
import RedisClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The notifications module as `buildApplication` wires it: the inbox, the hub of open streams, the pub/sub
/// listener container (a service) and the routes.
struct Notifications: Sendable {
    let configuration: NotificationsConfiguration
    let repository: NotificationRepository
    let hub: NotificationHub
    let service: NotificationService
    let listeners: RedisListenerContainer
    let controller: NotificationsController
    let logger: Logger

    init(configuration: NotificationsConfiguration, postgres: PostgresClient, redis: RedisClient, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.repository = NotificationRepository(client: postgres, logger: logger)
        self.hub = NotificationHub(capacity: configuration.streamBuffer, maxStreams: configuration.maxStreams)
        self.service = NotificationService(
            repository: self.repository,
            redis: redis,
            channel: configuration.channel,
            hub: self.hub,
            logger: logger
        )
        self.listeners = RedisListenerContainer(client: redis, logger: logger)
        let service = self.service
        let hub = self.hub
        self.listeners.addListener(channel: configuration.channel) { message in
            try await service.received(message.payload)
        } onGap: { _ in
            // Announcements may have been lost: every open stream reads its inbox from its last event.
            hub.catchUpAll()
        }
        self.controller = NotificationsController(
            service: self.service,
            repository: self.repository,
            hub: self.hub,
            heartbeat: configuration.heartbeat
        )
    }

    /// An order was placed: tell admins about products it left low on stock (the buyer's own notification
    /// comes from the order's post-processing). Failures are logged, never thrown: the order stands either way.
    func orderPlaced(_ order: Order, postgres: PostgresClient) async {
        do {
            try await self.lowStock(order, postgres: postgres)
        } catch {
            self.logger.warning(
                "could not check stock after an order",
                metadata: ["order": "\(order.id)", "error": "\(error)"]
            )
        }
    }

    /// Admins hear about each product this order took across the low-stock threshold.
    private func lowStock(_ order: Order, postgres: PostgresClient) async throws {
        let threshold = self.configuration.lowStockThreshold
        guard threshold > 0 else { return }
        var crossed: [(UUID, String, Int)] = []
        for item in order.items {
            let rows = try await postgres.query(
                "SELECT name, stock FROM products WHERE id = \(item.productId)",
                logger: self.logger
            )
            for try await (name, stock) in rows.decode((String, Int).self)
            where stock <= threshold && stock + item.quantity > threshold {
                crossed.append((item.productId, name, stock))
            }
        }
        guard !crossed.isEmpty else { return }
        let admins = try await postgres.query("SELECT id FROM users WHERE role = 'admin'", logger: self.logger)
        var ids: [UUID] = []
        for try await id in admins.decode(UUID.self) { ids.append(id) }
        for (product, name, stock) in crossed {
            for admin in ids {
                try await self.service.notify(
                    user: admin,
                    kind: "stock.low",
                    title: "Low stock: \(name)",
                    body: "\(name) has \(stock) unit\(stock == 1 ? "" : "s") left.",
                    data: ["productId": product.uuidString.lowercased(), "stock": String(stock)]
                )
            }
        }
    }
}
