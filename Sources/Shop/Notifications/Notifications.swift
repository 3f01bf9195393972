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

    init(configuration: NotificationsConfiguration, postgres: Database, redis: RedisClient, logger: Logger) {
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
}
