import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A message's history as the admin API shows it (`GET /api/v1/admin/queues/{topic}/messages/{messageId}`).
struct MessageHistoryView: Codable, Sendable, Equatable {
    var topic: String
    var messageId: String
    var entryId: String?
    var type: String?
    var payload: String?
    var publishedAt: Date?
    var groups: [Group]
    var events: [Event]

    /// Where the published entry stands in one group.
    struct Group: Codable, Sendable, Equatable {
        /// `waiting`, `pending` or `acknowledged`.
        var group: String
        var state: String
        var consumer: String?
        var deliveries: Int?
        var idleMs: Int?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.group, forKey: .group)
            try container.encode(self.state, forKey: .state)
            try container.encode(self.consumer, forKey: .consumer)
            try container.encode(self.deliveries, forKey: .deliveries)
            try container.encode(self.idleMs, forKey: .idleMs)
        }
    }

    /// One recorded event.
    struct Event: Codable, Sendable, Equatable {
        var kind: String
        var at: Date
        var group: String
        var consumer: String?
        var previousConsumer: String?
        var attempt: Int?
        var deliveries: Int?
        var error: String?
        var reason: String?
        var retryAt: Date?
        var entryId: String?
        var inRetryStream: Bool
        var deadLetterId: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.kind, forKey: .kind)
            try container.encode(self.at, forKey: .at)
            try container.encode(self.group, forKey: .group)
            try container.encode(self.consumer, forKey: .consumer)
            try container.encode(self.previousConsumer, forKey: .previousConsumer)
            try container.encode(self.attempt, forKey: .attempt)
            try container.encode(self.deliveries, forKey: .deliveries)
            try container.encode(self.error, forKey: .error)
            try container.encode(self.reason, forKey: .reason)
            try container.encode(self.retryAt, forKey: .retryAt)
            try container.encode(self.entryId, forKey: .entryId)
            try container.encode(self.inRetryStream, forKey: .inRetryStream)
            try container.encode(self.deadLetterId, forKey: .deadLetterId)
        }
    }

    init(_ history: MessageHistory) {
        self.topic = history.topic
        self.messageId = history.messageID
        self.entryId = history.entryID
        self.type = history.message?.type
        self.payload = history.message.map { String(buffer: $0.payload) }
        self.publishedAt = history.message?.publishedAt
        self.groups = history.groups.map { delivery in
            switch delivery.state {
            case .waiting:
                Group(group: delivery.group, state: "waiting")
            case .acknowledged:
                Group(group: delivery.group, state: "acknowledged")
            case .pending(let consumer, let deliveries, let idle):
                Group(
                    group: delivery.group,
                    state: "pending",
                    consumer: consumer,
                    deliveries: deliveries,
                    idleMs: Int(idle.milliseconds)
                )
            }
        }
        self.events = history.events.map { event in
            Event(
                kind: event.kind.rawValue,
                at: event.at,
                group: event.group,
                consumer: event.consumer,
                previousConsumer: event.previousConsumer,
                attempt: event.attempt,
                deliveries: event.deliveries,
                error: event.error,
                reason: event.reason?.rawValue,
                retryAt: event.retryAt,
                entryId: event.entryID,
                inRetryStream: event.inRetryStream,
                deadLetterId: event.deadLetterID
            )
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.topic, forKey: .topic)
        try container.encode(self.messageId, forKey: .messageId)
        try container.encode(self.entryId, forKey: .entryId)
        try container.encode(self.type, forKey: .type)
        try container.encode(self.payload, forKey: .payload)
        try container.encode(self.publishedAt, forKey: .publishedAt)
        try container.encode(self.groups, forKey: .groups)
        try container.encode(self.events, forKey: .events)
    }
}
