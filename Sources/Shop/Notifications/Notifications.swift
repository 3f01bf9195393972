import Logging
import PostgresNIO
import RedisClient
import RedisSessions

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The notifications module as `buildApplication` wires it: the inbox, the hub of open streams, the pub/sub
/// listener container (a service) and the routes.
///
/// The container also listens to the session store's revocation channel: a session ended on any instance closes
/// the streams it opened here.
struct Notifications: Sendable {
    let configuration: NotificationsConfiguration
    let repository: NotificationRepository
    let hub: NotificationHub
    let service: NotificationService
    let listeners: RedisListenerContainer
    let controller: NotificationsController
    let logger: Logger

    init(
        configuration: NotificationsConfiguration,
        postgres: Database,
        redis: RedisClient,
        sessions: RedisSessionStore<AuthenticatedUser>,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        self.repository = NotificationRepository(client: postgres, logger: logger)
        // Expiry is not announced: one sweep per heartbeat interval, while streams are open, asks Redis once about
        // the distinct sessions of every open stream here (one pipelined EXISTS each) and ends the gone ones.
        self.hub = NotificationHub(
            capacity: configuration.streamBuffer,
            maxStreams: configuration.maxStreams,
            maxStreamsPerUser: configuration.maxStreamsPerUser,
            sweep: NotificationHub.SessionSweep(interval: configuration.heartbeat) { hashes in
                try await sessions.endedSessions(storageHashes: hashes)
            }
        )
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
        if let channel = sessions.configuration.revocationChannel {
            self.listeners.addListener(channel: channel) { message in
                hub.endSessions(SessionRevocations.storageHashes(in: message.payload.readableBytesView))
            } onGap: { _ in
                // Revocations may have been missed: one sweep checks the sessions of every open stream.
                hub.checkAllSessions()
            }
        }
        self.controller = NotificationsController(
            service: self.service,
            repository: self.repository,
            hub: self.hub,
            heartbeat: configuration.heartbeat,
            sessionIsLive: { id in
                do {
                    return try await sessions.exists(id)
                } catch {
                    // Redis cannot say: keep the stream (it checks again at the next heartbeat; every request
                    // with that session is refused or answered 503 meanwhile).
                    return true
                }
            }
        )
    }
}
