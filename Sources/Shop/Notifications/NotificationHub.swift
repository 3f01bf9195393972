import Metrics
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What an open notification stream receives.
enum StreamEvent: Sendable {
    /// A new notification of the stream's user.
    case notification(Notification)
    /// Messages may have been missed (pub/sub reconnected): read the inbox after the last event sent.
    case catchUp
    /// Nothing happened for a while: send a comment so dead connections are noticed. (Whether the stream's
    /// session expired is checked by the hub's sweep, once per session for all streams.)
    case heartbeat
}

/// This instance's open notification streams, by user: what every instance's pub/sub listener delivers into.
///
/// Each stream has a bounded buffer. A stream whose client does not keep up overflows it and is closed
/// (`shop_notification_streams_dropped_total`); the client reconnects with `Last-Event-ID` and reads what it
/// missed from the inbox, so closing loses nothing and memory stays bounded by streams × buffer.
///
/// Each stream is bound to the session that opened it (by the session's storage hash): when that session ends —
/// signed out, revoked, replaced, rotated, announced by the session store on Redis pub/sub from any instance —
/// ``endSessions(_:)`` closes its streams here. A user has at most `maxStreamsPerUser` streams on one instance.
final class NotificationHub: Sendable {
    struct Stream: Sendable {
        let id: UUID
        let events: AsyncStream<StreamEvent>
        let continuation: AsyncStream<StreamEvent>.Continuation
        /// Set when the stream's session ended: nothing more may be written, not even what is buffered.
        let flag: EndedFlag

        /// Whether the stream's session ended (``endSessions(_:)``, ``sessionEnded(_:)``).
        var ended: Bool { self.flag.ended }
    }

    /// A stream's "its session ended" flag, shared by the hub and the stream's handler.
    final class EndedFlag: Sendable {
        private let value = Atomic<Bool>(false)
        var ended: Bool { self.value.load(ordering: .acquiring) }
        func set() { self.value.store(true, ordering: .releasing) }
    }

    /// Holds a stream's slot: the stream is closed when the last reference goes away, whether or not its response
    /// body ever ran (Hummingbird never calls the body when writing the response head fails: the client left).
    final class Lease: Sendable {
        let hub: NotificationHub
        let id: UUID

        init(hub: NotificationHub, id: UUID) {
            self.hub = hub
            self.id = id
        }

        deinit { self.hub.close(self.id) }
    }

    /// What ``openStream(user:session:)`` did.
    enum Opening: Sendable {
        case opened(Stream)
        /// The instance has `maxStreams` open, or is shutting down.
        case instanceFull
        /// The user has `maxStreamsPerUser` open here.
        case userFull

        var stream: Stream? {
            if case .opened(let stream) = self { stream } else { nil }
        }
    }

    private struct Subscriber {
        let user: UUID
        let session: String
        let continuation: AsyncStream<StreamEvent>.Continuation
        let flag: EndedFlag
    }

    private struct State {
        var subscribers: [UUID: Subscriber] = [:]
        var byUser: [UUID: Set<UUID>] = [:]
        var bySession: [String: Set<UUID>] = [:]
        var closed = false
        /// The sweep loop, while streams are open.
        var sweeper: Task<Void, Never>?
    }

    /// How expired sessions are found: every `interval`, while streams are open, `ended` is asked once about the
    /// distinct sessions of all open streams (it answers the storage hashes that no longer exist, or throws when
    /// it cannot say: the streams stay open until the next sweep).
    struct SessionSweep: Sendable {
        var interval: Duration
        var ended: @Sendable ([String]) async throws -> [String]
    }

    let capacity: Int
    let maxStreams: Int
    let maxStreamsPerUser: Int
    private let state = Mutex(State())
    private let dropped = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    private let openGauge = Gauge(label: "shop_notification_streams_open")
    private let droppedCounter = Counter(label: "shop_notification_streams_dropped_total")
    private let endedCounter = Counter(label: "shop_notification_streams_session_ended_total")

    let sweep: SessionSweep?
    private let sweeps = Atomic<Int>(0)

    init(capacity: Int, maxStreams: Int, maxStreamsPerUser: Int = .max, sweep: SessionSweep? = nil) {
        self.capacity = capacity
        self.maxStreams = maxStreams
        self.maxStreamsPerUser = maxStreamsPerUser
        self.sweep = sweep
    }

    /// Opens a stream for `user`, bound to the session with storage hash `session`; nil when this instance has
    /// `maxStreams` open, the user `maxStreamsPerUser`, or the instance is shutting down.
    func open(user: UUID, session: String = "") -> Stream? {
        self.openStream(user: user, session: session).stream
    }

    /// Opens a stream for `user`, bound to the session with storage hash `session`.
    func openStream(user: UUID, session: String) -> Opening {
        let id = UUID()
        let (events, continuation) = AsyncStream.makeStream(
            of: StreamEvent.self,
            bufferingPolicy: .bufferingOldest(self.capacity)
        )
        let flag = EndedFlag()
        let outcome = self.state.withLock { state -> Result<Int, OpeningRefused> in
            guard !state.closed, state.subscribers.count < self.maxStreams else { return .failure(.instance) }
            guard (state.byUser[user]?.count ?? 0) < self.maxStreamsPerUser else { return .failure(.user) }
            state.subscribers[id] = Subscriber(user: user, session: session, continuation: continuation, flag: flag)
            state.byUser[user, default: []].insert(id)
            state.bySession[session, default: []].insert(id)
            if let sweep = self.sweep, state.sweeper == nil {
                state.sweeper = Task { await self.sweepWhileOpen(every: sweep.interval) }
            }
            return .success(state.subscribers.count)
        }
        switch outcome {
        case .success(let count):
            self.openGauge.record(count)
            return .opened(Stream(id: id, events: events, continuation: continuation, flag: flag))
        case .failure(let refusal):
            continuation.finish()
            return refusal == .instance ? .instanceFull : .userFull
        }
    }

    private enum OpeningRefused: Error { case instance, user }

    /// Forgets a stream (its handler ended, or its ``Lease`` went away). Closing twice does nothing.
    func close(_ id: UUID) {
        let (subscriber, count) = self.state.withLock { state in
            (Self.remove(id, from: &state), state.subscribers.count)
        }
        subscriber?.continuation.finish()
        self.openGauge.record(count)
    }

    private static func remove(_ id: UUID, from state: inout State) -> Subscriber? {
        guard let subscriber = state.subscribers.removeValue(forKey: id) else { return nil }
        state.byUser[subscriber.user]?.remove(id)
        if state.byUser[subscriber.user]?.isEmpty == true { state.byUser[subscriber.user] = nil }
        state.bySession[subscriber.session]?.remove(id)
        if state.bySession[subscriber.session]?.isEmpty == true { state.bySession[subscriber.session] = nil }
        return subscriber
    }

    /// Ends every stream bound to one of these sessions (storage hashes): they were signed out, revoked,
    /// replaced or rotated away. They are forgotten at once (their slots are free again), marked ended (their
    /// handlers write nothing more, not even buffered events) and finished.
    /// - Returns: How many streams were ended.
    @discardableResult
    func endSessions(_ sessions: [String]) -> Int {
        let (removed, count) = self.state.withLock { state in
            let ids = sessions.flatMap { state.bySession[$0] ?? [] }
            return (ids.compactMap { Self.remove($0, from: &state) }, state.subscribers.count)
        }
        for subscriber in removed {
            subscriber.flag.set()
            subscriber.continuation.finish()
        }
        if !removed.isEmpty {
            self.ended.add(removed.count, ordering: .relaxed)
            self.endedCounter.increment(by: removed.count)
            self.openGauge.record(count)
        }
        return removed.count
    }

    /// Checks at once that the sessions of the open streams are still live (revocations may have been missed):
    /// one sweep.
    func checkAllSessions() {
        guard self.sweep != nil, self.openStreams > 0 else { return }
        Task { await self.sweepOnce() }
    }

    /// Sweeps every `interval` until no stream is open (then the loop ends; the next stream starts another).
    private func sweepWhileOpen(every interval: Duration) async {
        while true {
            do { try await Task.sleep(for: interval) } catch { break }
            let open = self.state.withLock { state in
                if state.subscribers.isEmpty || state.closed { state.sweeper = nil }
                return state.sweeper != nil
            }
            guard open else { return }
            await self.sweepOnce()
        }
        self.state.withLock { $0.sweeper = nil }
    }

    /// Asks once about the distinct sessions of the open streams and ends those that are gone (expired: expiry is
    /// not announced). One question for all streams, however many share a session.
    func sweepOnce() async {
        guard let sweep = self.sweep else { return }
        let sessions = self.state.withLock { Array($0.bySession.keys) }
        guard !sessions.isEmpty else { return }
        self.sweeps.add(1, ordering: .relaxed)
        // Redis cannot say: the streams stay open until the next sweep.
        guard let ended = try? await sweep.ended(sessions), !ended.isEmpty else { return }
        self.endSessions(ended)
    }

    /// How many sweeps asked about sessions.
    var sessionSweeps: Int { self.sweeps.load(ordering: .relaxed) }

    /// Whether the sweep loop runs (only while streams are open).
    var isSweeping: Bool { self.state.withLock { $0.sweeper != nil } }

    /// Ends a stream whose session was found to have ended (expired), counted like an announced one.
    func sessionEnded(_ id: UUID) {
        let (subscriber, count) = self.state.withLock { state in
            (Self.remove(id, from: &state), state.subscribers.count)
        }
        guard let subscriber else { return }
        subscriber.flag.set()
        subscriber.continuation.finish()
        self.openGauge.record(count)
        self.ended.add(1, ordering: .relaxed)
        self.endedCounter.increment()
    }

    /// How many streams were ended because their session ended.
    var sessionEndedStreams: Int { self.ended.load(ordering: .relaxed) }

    /// How many streams `user` has open here.
    func openStreams(of user: UUID) -> Int { self.state.withLock { $0.byUser[user]?.count ?? 0 } }

    /// Hands a notification to every open stream of `user` on this instance.
    func deliver(_ notification: Notification, to user: UUID) {
        let targets = self.state.withLock { state in
            (state.byUser[user] ?? []).compactMap { id in state.subscribers[id].map { (id, $0.continuation) } }
        }
        for (id, continuation) in targets {
            if case .dropped = continuation.yield(.notification(notification)) {
                self.overflowed(id)
            }
        }
    }

    /// Tells every stream to read the inbox for what it may have missed.
    func catchUpAll() {
        let targets = self.state.withLock { state in state.subscribers.map { ($0.key, $0.value.continuation) } }
        for (id, continuation) in targets {
            if case .dropped = continuation.yield(.catchUp) { self.overflowed(id) }
        }
    }

    /// The users with an open stream here.
    var connectedUsers: [UUID] { self.state.withLock { Array($0.byUser.keys) } }

    /// How many streams are open here.
    var openStreams: Int { self.state.withLock { $0.subscribers.count } }

    /// How many streams were closed because their client fell behind.
    var droppedStreams: Int { self.dropped.load(ordering: .relaxed) }

    /// Ends every stream and refuses new ones (graceful shutdown).
    func shutdown() {
        let (continuations, sweeper) = self.state.withLock { state in
            state.closed = true
            defer { state.sweeper = nil }
            return (state.subscribers.values.map(\.continuation), state.sweeper)
        }
        sweeper?.cancel()
        for continuation in continuations { continuation.finish() }
    }

    private func overflowed(_ id: UUID) {
        self.dropped.add(1, ordering: .relaxed)
        self.droppedCounter.increment()
        let subscriber = self.state.withLock { $0.subscribers[id] }
        subscriber?.continuation.finish()
    }
}
