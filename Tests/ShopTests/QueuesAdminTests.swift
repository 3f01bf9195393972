import Logging
import RedisClient
import StreamQueue
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The queue admin API: topic stats, dead letters and their replay.
@Suite("Queue admin API")
struct QueuesAdminTests {
    @Test func aMessageThatAlwaysFailsEndsInTheDeadLettersAndCanBeReplayed() async throws {
        let tweak = ConfigurationTweak.with { configuration in
            configuration.queue.keyPrefix = configuration.accounts.sessionKeyPrefix + "queue:"
            configuration.queue.maxAttempts = 2
        }
        try await withOrderInstances(count: 1, configure: tweak) { shop in
            let admin = try await shop.signIn("admin@queues.test", role: .admin)
            let user = try await shop.signIn("user@queues.test")
            // A poison message: the post-processing cannot decode it, so every attempt fails.
            var settings = StreamQueueConfiguration()
            settings.keyPrefix = shop.configuration.queue.keyPrefix
            let queue = StreamQueue(client: shop.redis, configuration: settings, logger: Logger(label: "test"))
            _ = try await queue.publish(
                OutgoingMessage(id: "poison-1", type: "order.placed", payload: "not json"),
                to: "orders"
            )

            struct Letters: Decodable {
                struct Letter: Decodable {
                    var id: String
                    var group: String
                    var reason: String
                    var error: String
                    var attempts: Int
                    var messageId: String?
                }
                var data: [Letter]
            }
            var letters: [Letters.Letter] = []
            for _ in 0..<300 {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                #expect(reply.status == 200)
                letters = try JSONDecoder().decode(Letters.self, from: Data(reply.body.utf8)).data
                if !letters.isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let letter = try #require(letters.first)
            #expect(letter.messageId == "poison-1")
            #expect(letter.reason == "handler-failed")
            #expect(letter.error == "undecodable order.placed payload")
            #expect(letter.attempts == 2)
            #expect(letter.group == "order-post-processing")
            let id = letter.id

            let stats = try await shop.send(.GET, "/api/v1/admin/queues", cookie: admin)
            #expect(
                stats.status == 200 && stats.body.contains(#""topic":"orders""#)
                    && stats.body.contains(#""deadLetters":1"#)
            )
            #expect(stats.body.contains(#""topic":"payments""#))

            // Replay: it leaves the dead letters, fails twice more, and comes back as a new dead letter.
            let replay = try await shop.send(
                .POST,
                "/api/v1/admin/queues/orders/dead-letters/\(id)/replay",
                cookie: admin
            )
            #expect(replay.status == 200 && replay.body.contains(#""deadLetter":"\#(id)""#), "\(replay.body)")
            var again = ""
            for _ in 0..<300 {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                if reply.body.contains("poison-1") && !reply.body.contains(#""id":"\#(id)""#) {
                    again = reply.body
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(again.contains("poison-1"))
            let missing = try await shop.send(
                .POST,
                "/api/v1/admin/queues/orders/dead-letters/\(id)/replay",
                cookie: admin
            )
            #expect(missing.status == 404 && missing.body.contains(#""code":"NOT_FOUND""#))

            // Replay all: a second poison message joins the first's new dead letter; both are replayed in one call,
            // and neither goes round again within it (they come back later as new dead letters).
            _ = try await queue.publish(
                OutgoingMessage(id: "poison-2", type: "order.placed", payload: "still not json"),
                to: "orders"
            )
            var both: [Letters.Letter] = []
            for _ in 0..<300 {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                both = try JSONDecoder().decode(Letters.self, from: Data(reply.body.utf8)).data
                if both.count == 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Set(both.compactMap(\.messageId)) == ["poison-1", "poison-2"])
            let all = try await shop.send(.POST, "/api/v1/admin/queues/orders/replay-dead-letters", cookie: admin)
            #expect(all.status == 200 && all.body.contains(#""replayed":2"#), "\(all.body)")
            let tooMany = try await shop.send(
                .POST,
                "/api/v1/admin/queues/orders/replay-dead-letters?limit=1001",
                cookie: admin
            )
            #expect(tooMany.status == 400)

            // Delete: once they are dead letters again, each can be removed for good.
            var back: [Letters.Letter] = []
            for _ in 0..<300 {
                let reply = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
                back = try JSONDecoder().decode(Letters.self, from: Data(reply.body.utf8)).data
                if back.count == 2 && Set(back.map(\.id)).isDisjoint(with: both.map(\.id)) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(back.count == 2)
            for letter in back {
                let path = "/api/v1/admin/queues/orders/dead-letters/\(letter.id)"
                #expect(try await shop.send(.DELETE, path, cookie: admin).status == 204)
                #expect(try await shop.send(.DELETE, path, cookie: admin).status == 404)
            }
            let emptied = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters", cookie: admin)
            #expect(emptied.body.contains(#""data":[]"#), "\(emptied.body)")
            let badDelete = try await shop.send(
                .DELETE,
                "/api/v1/admin/queues/orders/dead-letters/12-ab",
                cookie: admin
            )
            #expect(badDelete.status == 400)

            // The first poison message's history: two rounds of failure, dead letter and replay, then the third
            // dead letter, deleted.
            struct History: Decodable {
                struct Event: Decodable {
                    var kind: String
                    var group: String
                    var attempt: Int?
                    var deadLetterId: String?
                }
                struct Data: Decodable {
                    var messageId: String
                    var events: [Event]
                }
                var data: Data
            }
            let historyReply = try await shop.send(.GET, "/api/v1/admin/queues/orders/messages/poison-1", cookie: admin)
            #expect(historyReply.status == 200, "\(historyReply.body)")
            let history = try JSONDecoder().decode(History.self, from: Data(historyReply.body.utf8)).data
            let events = history.events.filter { $0.group == "order-post-processing" }
            #expect(
                events.map(\.kind) == [
                    "failed", "dead-lettered", "replayed", "failed", "dead-lettered", "replayed", "failed",
                    "dead-lettered", "deleted",
                ],
                "\(historyReply.body)"
            )
            #expect(events.first?.attempt == 1)
            #expect(events.first { $0.kind == "dead-lettered" }?.deadLetterId == id)
            // The id is percent-decoded, as the console encodes it.
            let encoded = try await shop.send(.GET, "/api/v1/admin/queues/orders/messages/poison%2D1", cookie: admin)
            #expect(encoded.status == 200 && encoded.body == historyReply.body)
            let unknown = try await shop.send(.GET, "/api/v1/admin/queues/orders/messages/never-sent", cookie: admin)
            #expect(unknown.status == 404 && unknown.body.contains(#""code":"NOT_FOUND""#), "\(unknown.body)")
            let control = try await shop.send(.GET, "/api/v1/admin/queues/orders/messages/a%01b", cookie: admin)
            #expect(control.status == 400 && control.body.contains(#""code":"INVALID_PARAMETER""#), "\(control.body)")
            #expect(
                try await shop.send(.GET, "/api/v1/admin/queues/nope/messages/poison-1", cookie: admin).status == 404
            )
            #expect(
                try await shop.send(.GET, "/api/v1/admin/queues/orders/messages/poison-1", cookie: user).status == 403
            )

            // Errors of the routes.
            #expect(try await shop.send(.GET, "/api/v1/admin/queues/nope/dead-letters", cookie: admin).status == 404)
            let badID = try await shop.send(.POST, "/api/v1/admin/queues/orders/dead-letters/x-y/replay", cookie: admin)
            #expect(badID.status == 400 && badID.body.contains(#""code":"INVALID_PARAMETER""#))
            let badLimit = try await shop.send(.GET, "/api/v1/admin/queues/orders/dead-letters?limit=0", cookie: admin)
            #expect(badLimit.status == 400)
            #expect(try await shop.send(.GET, "/api/v1/admin/queues", cookie: user).status == 403)
            #expect(try await shop.send(.GET, "/api/v1/admin/queues").status == 401)
        }
    }
}
