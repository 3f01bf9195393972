import Logging
import NIOCore
import RedisClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Creates notifications (inbox row first, then an announcement on Redis) and turns announcements from any
/// instance into events of this instance's open streams.
///
/// The inbox in PostgreSQL is the source of truth; pub/sub only makes delivery immediate. An announcement that
/// is lost (Redis down at publish time, a subscriber reconnecting) is made up for by the stream's catch-up
/// from the inbox: after a gap, on a sequence jump, or when the client reconnects with `Last-Event-ID`.
struct NotificationService: Sendable {
    let repository: NotificationRepository
    let redis: RedisClient
    let channel: String
    let hub: NotificationHub
    let logger: Logger

    /// Adds a notification to every user's inbox and announces it.
    /// - Returns: How many users got it.
    func broadcast(title: String, body: String) async throws -> Int {
        let id = UUID()
        let count = try await self.repository.insertBroadcast(id: id, title: title, body: body)
        await self.announce(NotificationEvent(user: nil, notification: nil, broadcast: id)) {
            await self.deliverBroadcast(id)
        }
        return count
    }

    /// Announces a notification that was written in another transaction (after that transaction committed).
    func announce(_ notification: Notification, user: UUID) async {
        await self.announce(NotificationEvent(user: user, notification: notification, broadcast: nil)) {
            self.hub.deliver(notification, to: user)
        }
    }

    /// Handles an announcement from the channel (from any instance, this one included).
    func received(_ payload: ByteBuffer) async throws {
        let event = try JSONCoding.decoder.decode(NotificationEvent.self, from: Data(buffer: payload))
        if let user = event.user, let notification = event.notification {
            self.hub.deliver(notification, to: user)
        } else if let broadcast = event.broadcast {
            await self.deliverBroadcast(broadcast)
        }
    }

    private func deliverBroadcast(_ id: UUID) async {
        let users = self.hub.connectedUsers
        guard !users.isEmpty else { return }
        do {
            for (user, notification) in try await self.repository.broadcast(id, users: users) {
                self.hub.deliver(notification, to: user)
            }
        } catch {
            // The streams catch up at their next reconnect or gap.
            self.logger.warning("could not load a broadcast for open streams", metadata: ["error": "\(error)"])
        }
    }

    private func announce(_ event: NotificationEvent, otherwise fallback: () async -> Void) async {
        do {
            let payload = String(decoding: try JSONCoding.encoder.encode(event), as: UTF8.self)
            try await self.redis.publish(payload, to: self.channel)
        } catch {
            self.logger.warning("could not announce a notification", metadata: ["error": "\(error)"])
            await fallback()
        }
    }
}
