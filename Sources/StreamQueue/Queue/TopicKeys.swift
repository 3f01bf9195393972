/// The Redis keys of one topic. Every key carries the topic as its hash tag (`<prefix>{<topic>}:...`), so each
/// queue script touches one Redis Cluster slot.
struct TopicKeys: Sendable, Hashable {
    let topic: String
    /// `<prefix>{<topic>}:`
    let base: String

    init(prefix: String, topic: String) {
        self.topic = topic
        self.base = "\(prefix){\(topic)}:"
    }

    /// The topic's stream: what producers publish to, read by every group.
    var stream: String { self.base + "stream" }
    /// The dead letters of every group of the topic (entries carry `dl:group`).
    var dead: String { self.base + "dead" }
    /// One group's redeliveries (promoted retries, replayed dead letters); only that group reads it.
    func retry(_ group: String) -> String { self.base + "retry:" + group }
    /// One group's retries waiting for their due time (sorted set scored by due time in ms).
    func delayed(_ group: String) -> String { self.base + "delayed:" + group }
    /// Marker of a published message id, for publish deduplication.
    func published(_ messageID: String) -> String { self.base + "published:" + messageID }
    /// A message's history: the events of its failures, takeovers, dead letters and replays (a list).
    func history(_ messageID: String) -> String { self.base + "history:" + messageID }
    /// The lease of the active consumer of an exclusive group.
    func active(_ group: String) -> String { self.base + "active:" + group }
    /// Marker of a message processed by a consumer (``RedisProcessedMessages``).
    func processed(_ consumer: String, _ messageID: String) -> String {
        self.base + "processed:" + consumer + ":" + messageID
    }

    /// Checks a topic, group or consumer name: 1–200 characters, no `{`, `}` or control characters.
    static func validate(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 200,
            !name.unicodeScalars.contains(where: { $0 == "{" || $0 == "}" || $0.properties.generalCategory == .control }
            )
        else { throw StreamQueueError.invalidName(name) }
    }
}
