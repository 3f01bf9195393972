import HTTPTypes
public import Hummingbird
import NIOCore
import RedisSessions
import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/notifications`, `GET /api/v1/notifications/stream` (Server-Sent Events),
/// `POST /api/v1/notifications/{id}/read` for signed-in users; `POST /api/v1/admin/notifications` for admins.
struct NotificationsController: Sendable {
    let service: NotificationService
    let repository: NotificationRepository
    let hub: NotificationHub
    let heartbeat: Duration
    /// Whether a session is still live, without touching it (expiry is not announced); true when Redis cannot say.
    let sessionIsLive: @Sendable (SessionID) async -> Bool

    /// The routes, to add under `/api/v1/notifications`.
    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireUser())
        routes.get(use: self.list)
        routes.get("stream", use: self.stream)
        routes.post(":id/read", use: self.markRead)
        return routes
    }

    /// The routes, to add under `/api/v1/admin/notifications`.
    var adminRoutes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.post(use: self.broadcast)
        return routes
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [Notification], InboxMeta
    > {
        let user = try context.requireUser()
        let pagination = try Pagination(request: request)
        var unreadOnly = false
        if let value = request.uri.queryParameters["unread"] {
            switch value {
            case "true": unreadOnly = true
            case "false": unreadOnly = false
            default:
                throw APIError.invalidParameters([
                    FieldError(field: "unread", code: .invalidFormat, message: "must be true or false")
                ])
            }
        }
        let page = try await self.repository.page(
            user: user.id,
            unreadOnly: unreadOnly,
            offset: pagination.offset,
            limit: pagination.size
        )
        let meta = PageMeta(page: pagination.page, size: pagination.size, totalItems: page.total)
        return Envelope(
            data: page.items,
            meta: InboxMeta(
                page: meta.page,
                size: meta.size,
                totalItems: meta.totalItems,
                totalPages: meta.totalPages,
                unread: page.unread
            )
        )
    }

    @Sendable func markRead(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        Notification, EmptyMeta
    > {
        let user = try context.requireUser()
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else {
            throw APIError.invalidParameters([
                FieldError(field: "id", code: .invalidFormat, message: "must be a positive integer")
            ])
        }
        guard let notification = try await self.repository.markRead(user: user.id, seq: id) else {
            throw APIError.notFound("You have no notification \(id).")
        }
        return Envelope(data: notification)
    }

    @Sendable func broadcast(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let input = try await request.decodeJSON(as: BroadcastInput.self, context: context)
        var validator = Validator()
        let title = validator.text(input.title, field: "title", rule: BroadcastInput.title)
        let body = validator.text(input.body, field: "body", rule: BroadcastInput.body)
        try validator.throwIfInvalid()
        guard let title, let body else { throw APIError.validationFailed(validator.errors) }
        let recipients = try await self.service.broadcast(title: title, body: body)
        return try context.responseEncoder.encode(
            Envelope(data: BroadcastResult(recipients: recipients)),
            from: request,
            context: context
        ).withStatus(.accepted)
    }

    @Sendable func stream(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let user = try context.requireUser()
        guard let session = context.sessions.current?.id else { throw APIError.sessionStoreUnavailable }
        let lastEventID = try Self.lastEventID(request)
        // The stream is bound to the request's session: when that session ends (on any instance), it closes.
        let stream: NotificationHub.Stream
        switch self.hub.openStream(user: user.id, session: session.storageHash) {
        case .opened(let opened):
            stream = opened
        case .instanceFull:
            var error = APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "This instance has too many open notification streams; try again."
            )
            error.headers[.retryAfter] = "5"
            throw error
        case .userFull:
            // A stream whose client went away is noticed at its next heartbeat: try again after one.
            throw APIError(
                status: .tooManyRequests,
                code: .tooManyRequests,
                detail:
                    "You have \(self.hub.maxStreamsPerUser) notification streams open on this instance; close one first.",
                headers: [.retryAfter: "\(self.heartbeat.components.seconds)"]
            )
        }
        // The lease holds the slot until the response body has run, or until the response is dropped unwritten
        // (Hummingbird never runs the body when writing the head fails: the client left before it).
        let lease = NotificationHub.Lease(hub: self.hub, id: stream.id)
        let repository = self.repository
        let hub = self.hub
        let heartbeat = self.heartbeat
        let sessionIsLive = self.sessionIsLive
        // A revocation announced between the session's lookup and the stream's registration reached no stream:
        // look once more now that the stream is registered (later announcements find it).
        guard await sessionIsLive(session) else {
            hub.close(stream.id)
            throw APIError(
                status: .unauthorized,
                code: .unauthorized,
                detail: "Sign in first: this endpoint needs a session."
            )
        }
        // A new stream starts after the newest notification (read once the stream is registered, so nothing
        // committed later can be missed); a reconnect starts after the last event it saw.
        let start: Int64
        do {
            if let lastEventID {
                start = lastEventID
            } else {
                start = try await repository.latest(user: user.id)
            }
        } catch {
            hub.close(stream.id)
            throw error
        }
        let body = ResponseBody { writer in
            defer { hub.close(lease.id) }
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: heartbeat)
                            stream.continuation.yield(.heartbeat)
                        }
                    }
                    var sender = StreamSender(
                        user: user.id,
                        lastSent: start,
                        repository: repository,
                        ended: stream.flag
                    )
                    try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                    // A reconnect starts with what it missed; a new stream starts with what happens next.
                    if lastEventID != nil, !stream.ended { try await sender.catchUp(&writer) }
                    try await Self.pump(stream, sender: &sender, writer: &writer)
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                stream.continuation.finish()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    /// Writes `stream`'s events until it finishes or its session ends.
    static func pump(
        _ stream: NotificationHub.Stream,
        sender: inout StreamSender,
        writer: inout any ResponseBodyWriter
    ) async throws {
        events: for await event in stream.events {
            // Once the session ended nothing more is written: finishing the stream still delivers
            // what was buffered, and a catch-up would read the inbox as it is now.
            if stream.ended { break events }
            switch event {
            case .notification(let notification): try await sender.send(notification, &writer)
            case .catchUp: try await sender.catchUp(&writer)
            case .heartbeat:
                // An expired session is not announced: the hub's sweep finds it (one check per session for all
                // streams, each heartbeat interval and after each pub/sub gap) and ends the stream.
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
            }
        }
    }

    /// `Last-Event-ID` (what a browser's `EventSource` sends on reconnect) or `?lastEventId=`.
    static func lastEventID(_ request: Request) throws -> Int64? {
        let text = request.headers[.lastEventID] ?? request.uri.queryParameters["lastEventId"].map(String.init)
        guard let text else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw APIError.invalidParameters([
                FieldError(
                    field: "Last-Event-ID",
                    code: .invalidFormat,
                    message: "must be a notification id (0 or more)"
                )
            ])
        }
        return value
    }
}

/// Writes one stream's events in inbox order, without gaps or repeats: a notification is sent only if it is the
/// next one (`lastSent + 1`); an older one was sent already; a newer one means one was missed (announcements
/// from two instances can cross), so the inbox is read from `lastSent` instead.
struct StreamSender {
    let user: UUID
    var lastSent: Int64
    let repository: NotificationRepository
    /// Set when the stream's session ended: nothing more is written.
    var ended: NotificationHub.EndedFlag? = nil

    mutating func send(_ notification: Notification, _ writer: inout any ResponseBodyWriter) async throws {
        if notification.id <= self.lastSent { return }
        if notification.id == self.lastSent + 1 {
            try await self.write(notification, &writer)
        } else {
            try await self.catchUp(&writer)
        }
    }

    mutating func catchUp(_ writer: inout any ResponseBodyWriter) async throws {
        while true {
            let missed = try await self.repository.after(user: self.user, seq: self.lastSent, limit: 500)
            for notification in missed {
                if self.ended?.ended == true { return }
                try await self.write(notification, &writer)
            }
            if missed.count < 500 { return }
        }
    }

    private mutating func write(_ notification: Notification, _ writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBuffer()
        buffer.writeString("id: \(notification.id)\nevent: \(notification.kind)\ndata: ")
        buffer.writeBytes(try JSONCoding.encoder.encode(notification))
        buffer.writeString("\n\n")
        try await writer.write(buffer)
        self.lastSent = notification.id
    }
}

/// `meta` of the inbox: the page, and how many are unread in all.
struct InboxMeta: Codable, Sendable, Equatable {
    var page: Int
    var size: Int
    var totalItems: Int
    var totalPages: Int
    var unread: Int
}

struct BroadcastInput: Decodable, Sendable {
    var title: String
    var body: String

    /// The title: trimmed, 1–200 code points (the `notifications.title` CHECK), one line.
    static let title = TextRule(minLength: 1, maxLength: 200, trims: true)
    /// The body: up to 2,000 code points (the `notifications.body` CHECK), line breaks allowed.
    static let body = TextRule(minLength: 0, maxLength: 2000, allowsLineBreaks: true)
}

struct BroadcastResult: Codable, Sendable, Equatable {
    var recipients: Int
}

extension HTTPField.Name {
    /// `Last-Event-ID`.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
