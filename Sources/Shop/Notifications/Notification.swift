#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// One notification in a user's inbox.
public struct Notification: Codable, Sendable, Equatable {
    /// Its number in the user's inbox: 1, 2, 3, ... without gaps. The SSE event id.
    public var id: Int64
    /// What happened: `order.placed`, `stock.low`, `broadcast`, ...
    public var kind: String
    /// A one-line summary.
    public var title: String
    /// Details for people.
    public var body: String
    /// Details for programs (ids, amounts), as strings.
    public var data: [String: String]
    /// When it was created.
    public var createdAt: Date
    /// When the user marked it read; null while unread.
    public var readAt: Date?

    /// Creates a notification.
    public init(
        id: Int64,
        kind: String,
        title: String,
        body: String,
        data: [String: String],
        createdAt: Date,
        readAt: Date?
    ) {
        self.id = id
        self.kind = kind
        self.title = title
        self.body = body
        self.data = data
        self.createdAt = createdAt
        self.readAt = readAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.kind, forKey: .kind)
        try container.encode(self.title, forKey: .title)
        try container.encode(self.body, forKey: .body)
        try container.encode(self.data, forKey: .data)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.readAt, forKey: .readAt)
    }
}

/// What instances tell each other on the notifications channel.
struct NotificationEvent: Codable, Sendable {
    /// A new notification of one user.
    var user: UUID?
    var notification: Notification?
    /// A broadcast: every user got a row with this broadcast id.
    var broadcast: UUID?
}
