import Hummingbird
import NIOCore
import RedisSessions
import ServiceLifecycle
import Synchronization

/// `GET /api/v1/admin/dashboard` and `GET /api/v1/admin/dashboard/stream` (admins): the fleet's per-minute figures
/// for the console's charts, once as JSON or pushed as server-sent events.
///
/// The stream sends a `snapshot` event at once and then every ``pushInterval``; while Redis does not answer it sends
/// `unavailable` events instead and carries on. It ends when the service shuts down gracefully or the request's
/// session ends (checked at each push), and at most ``maxStreams`` are open per instance (`503` beyond).
struct DashboardController: Sendable {
    let reader: DashboardReader
    let series: DashboardSeries
    let pushInterval: Duration
    let maxStreams: Int
    let sessionIsLive: @Sendable (SessionID) async -> Bool
    private let openStreams = OpenStreams()

    /// The longest window a request may ask for, in minutes (the recorder keeps this much).
    static let maxMinutes = 180

    init(
        reader: DashboardReader,
        series: DashboardSeries,
        pushInterval: Duration = .seconds(5),
        maxStreams: Int = 32,
        sessionIsLive: @escaping @Sendable (SessionID) async -> Bool
    ) {
        self.reader = reader
        self.series = series
        self.pushInterval = pushInterval
        self.maxStreams = maxStreams
        self.sessionIsLive = sessionIsLive
    }

    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.snapshot)
        routes.get("stream", use: self.stream)
        return routes
    }

    @Sendable func snapshot(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        DashboardSnapshot, EmptyMeta
    > {
        let minutes = try Self.minutes(request)
        return Envelope(
            data: try await self.reader.snapshot(minutes: minutes, currentMinute: self.series.currentMinute)
        )
    }

    @Sendable func stream(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let minutes = try Self.minutes(request)
        guard let session = context.sessions.current?.id else { throw APIError.sessionStoreUnavailable }
        guard self.openStreams.open(limit: self.maxStreams) else {
            var error = APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "This instance has \(self.maxStreams) dashboard streams open; try again."
            )
            error.headers[.retryAfter] = "5"
            throw error
        }
        // The slot is given back when the body has run, or when the response is dropped unwritten (Hummingbird never
        // runs the body when writing the head fails).
        let slot = StreamSlot(self.openStreams)
        let controller = self
        let body = ResponseBody { writer in
            defer { withExtendedLifetime(slot) {} }
            try await controller.push(minutes: minutes, session: session, writer: &writer)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    /// Writes a snapshot now and every ``pushInterval`` until graceful shutdown (the browser then reconnects, to
    /// another instance) or the end of the session.
    private func push(minutes: Int, session: SessionID, writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
        while !Task.isShuttingDownGracefully, await self.sessionIsLive(session) {
            try await writer.write(await self.event(minutes: minutes))
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.pushInterval) }
            } catch {
                break
            }
        }
        try await writer.finish(nil)
    }

    /// One event: the snapshot, or why there is none.
    private func event(minutes: Int) async -> ByteBuffer {
        do {
            let snapshot = try await self.reader.snapshot(minutes: minutes, currentMinute: self.series.currentMinute)
            let json = try JSONCoding.encoder.encode(snapshot)
            return ByteBuffer(string: "event: snapshot\ndata: \(String(decoding: json, as: UTF8.self))\n\n")
        } catch {
            return ByteBuffer(
                string: #"event: unavailable"# + "\n" + #"data: {"detail":"Redis did not answer"}"# + "\n\n"
            )
        }
    }

    /// `?minutes=` (1 to ``maxMinutes``, 60 when absent).
    static func minutes(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["minutes"] else { return 60 }
        guard let value = Int(text), (1...Self.maxMinutes).contains(value) else {
            throw APIError.invalidParameters([
                FieldError(
                    field: "minutes",
                    code: .outOfRange,
                    message: "must be a whole number of minutes between 1 and \(Self.maxMinutes)"
                )
            ])
        }
        return value
    }
}

/// How many dashboard streams are open on this instance.
private final class OpenStreams: Sendable {
    private let count = Mutex(0)

    func open(limit: Int) -> Bool {
        self.count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func close() {
        self.count.withLock { $0 -= 1 }
    }
}

/// One open stream's place in ``OpenStreams``, given back when it is released.
private final class StreamSlot: Sendable {
    let streams: OpenStreams

    init(_ streams: OpenStreams) {
        self.streams = streams
    }

    deinit {
        self.streams.close()
    }
}
