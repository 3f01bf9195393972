public import Hummingbird
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/admin/queues`, `GET /api/v1/admin/queues/{topic}/dead-letters`,
/// `POST /api/v1/admin/queues/{topic}/dead-letters/{id}/replay`, `DELETE /api/v1/admin/queues/{topic}/dead-letters/{id}`
/// `POST /api/v1/admin/queues/{topic}/replay-dead-letters` (all of them, oldest first) and
/// `GET /api/v1/admin/queues/{topic}/messages/{messageId}` (a message's history; admins).
struct QueuesAdminController: Sendable {
    let queue: StreamQueue
    let topics: [String]

    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.list)
        routes.get(":topic/dead-letters", use: self.deadLetters)
        routes.post(":topic/dead-letters/:id/replay", use: self.replay)
        routes.delete(":topic/dead-letters/:id", use: self.delete)
        routes.post(":topic/replay-dead-letters", use: self.replayAll)
        routes.get(":topic/messages/:messageId", use: self.history)
        return routes
    }

    /// What the queue knows of one message: its entry's state per group and its recorded events.
    @Sendable func history(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        MessageHistoryView, EmptyMeta
    > {
        let topic = try self.topic(context)
        // Percent-decoded: a message id is the publisher's and may hold any character (the console encodes it).
        let id = (context.parameters.get("messageId") ?? "").removingPercentEncoding ?? ""
        guard !id.isEmpty, id.utf8.count <= 256,
            !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError.invalidParameters([
                FieldError(
                    field: "messageId",
                    code: .invalidFormat,
                    message: "must be a message id: 1-256 bytes (percent-encoded in the path), no control characters"
                )
            ])
        }
        guard let history = try await self.queue.messageHistory(topic: topic, messageID: id) else {
            throw APIError.notFound(
                "Nothing is known of message \(id.prefix(64)) in \(topic): it never failed, and its publish marker "
                    + "(kept for the outbox's deduplication window) is gone or was never set."
            )
        }
        return Envelope(data: MessageHistoryView(history))
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [TopicStats], EmptyMeta
    > {
        var stats: [TopicStats] = []
        for topic in self.topics { stats.append(try await self.queue.stats(topic: topic)) }
        return Envelope(data: stats)
    }

    @Sendable func deadLetters(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [DeadLetterView], EmptyMeta
    > {
        let topic = try self.topic(context)
        var limit = 50
        if let text = request.uri.queryParameters["limit"] {
            guard let value = Int(text), (1...500).contains(value) else {
                throw APIError.invalidParameters([
                    FieldError(field: "limit", code: .outOfRange, message: "must be between 1 and 500")
                ])
            }
            limit = value
        }
        let after = request.uri.queryParameters["after"].map(String.init)
        if let after, !Self.isEntryID(after) {
            throw APIError.invalidParameters([
                FieldError(
                    field: "after",
                    code: .invalidFormat,
                    message: "must be a dead letter id like 1700000000000-0"
                )
            ])
        }
        let letters = try await self.queue.deadLetters(topic: topic, after: after, limit: limit)
        return Envelope(data: letters.map(DeadLetterView.init))
    }

    @Sendable func replay(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        ReplayResult, EmptyMeta
    > {
        let topic = try self.topic(context)
        let id = context.parameters.get("id") ?? ""
        guard Self.isEntryID(id) else {
            throw APIError.invalidParameters([
                FieldError(field: "id", code: .invalidFormat, message: "must be a dead letter id like 1700000000000-0")
            ])
        }
        guard let entry = try await self.queue.replayDeadLetter(topic: topic, id: id) else {
            throw APIError.notFound("No dead letter \(id) in \(topic).")
        }
        return Envelope(data: ReplayResult(deadLetter: id, requeuedAs: entry))
    }

    @Sendable func delete(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let topic = try self.topic(context)
        let id = try Self.deadLetterID(context)
        guard try await self.queue.deleteDeadLetter(topic: topic, id: id) else {
            throw APIError.notFound("No dead letter \(id) in \(topic).")
        }
        return Response(status: .noContent)
    }

    /// Replays the topic's dead letters, oldest first, at most `?limit=` (1–1000, 1000 when absent) per call: a
    /// dead letter that arrives while this runs waits for the next call.
    @Sendable func replayAll(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        ReplayAllResult, EmptyMeta
    > {
        let topic = try self.topic(context)
        var limit = 1_000
        if let text = request.uri.queryParameters["limit"] {
            guard let value = Int(text), (1...1_000).contains(value) else {
                throw APIError.invalidParameters([
                    FieldError(field: "limit", code: .outOfRange, message: "must be between 1 and 1000")
                ])
            }
            limit = value
        }
        // The dead letters there are now, listed first: one that a replayed message turns into again (it still
        // fails) comes after them and waits for the next call, instead of going round within this one.
        var ids: [String] = []
        while ids.count < limit {
            let page = try await self.queue.deadLetters(
                topic: topic,
                after: ids.last,
                limit: min(100, limit - ids.count)
            )
            if page.isEmpty { break }
            ids += page.map(\.id)
        }
        var replayed = 0
        for id in ids where try await self.queue.replayDeadLetter(topic: topic, id: id) != nil {
            replayed += 1
        }
        let more = try await !self.queue.deadLetters(topic: topic, after: ids.last, limit: 1).isEmpty
        return Envelope(data: ReplayAllResult(replayed: replayed, more: more))
    }

    private static func deadLetterID(_ context: ShopRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard Self.isEntryID(id) else {
            throw APIError.invalidParameters([
                FieldError(field: "id", code: .invalidFormat, message: "must be a dead letter id like 1700000000000-0")
            ])
        }
        return id
    }

    private func topic(_ context: ShopRequestContext) throws -> String {
        let topic = context.parameters.get("topic") ?? ""
        guard self.topics.contains(topic) else { throw APIError.notFound("No queue is named \(topic.prefix(64)).") }
        return topic
    }

    /// A stream entry id as Redis accepts it: `<ms>-<seq>`, each part 1–20 ASCII digits whose value fits in 64
    /// bits. (`Character.isNumber` would let Unicode digits such as `٣` or `²` through, and a 20-digit part can be
    /// past `UInt64.max`; Redis refuses both with an error that is not the client's fault to read.)
    static func isEntryID(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return text.utf8.count <= 41 && parts.count == 2
            && parts.allSatisfy { part in
                (1...20).contains(part.count)
                    && part.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
                    && UInt64(String(decoding: part, as: UTF8.self)) != nil
            }
    }
}

/// A dead letter as the admin API shows it.
struct DeadLetterView: Codable, Sendable, Equatable {
    var id: String
    var group: String
    var reason: String
    var error: String
    var attempts: Int
    var deliveries: Int
    var failedAt: Date
    var messageId: String?
    var type: String?
    var payload: String?

    init(_ letter: DeadLetter) {
        self.id = letter.id
        self.group = letter.group
        self.reason = letter.reason.rawValue
        self.error = letter.error
        self.attempts = letter.attempts
        self.deliveries = letter.deliveries
        self.failedAt = letter.failedAt
        self.messageId = letter.message?.id
        self.type = letter.message?.type
        self.payload = letter.message.map { String(buffer: $0.payload) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.group, forKey: .group)
        try container.encode(self.reason, forKey: .reason)
        try container.encode(self.error, forKey: .error)
        try container.encode(self.attempts, forKey: .attempts)
        try container.encode(self.deliveries, forKey: .deliveries)
        try container.encode(self.failedAt, forKey: .failedAt)
        try container.encode(self.messageId, forKey: .messageId)
        try container.encode(self.type, forKey: .type)
        try container.encode(self.payload, forKey: .payload)
    }
}

/// The answer of a replay of every dead letter.
struct ReplayAllResult: Codable, Sendable, Equatable {
    var replayed: Int
    /// Whether dead letters past the limit are left (call again).
    var more: Bool
}

/// The answer of a replay.
struct ReplayResult: Codable, Sendable, Equatable {
    var deadLetter: String
    var requeuedAs: String
}
