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
    /// Nothing happened for a while: send a comment so dead connections are noticed.
    case heartbeat
}

/// This instance's open notification streams, by user: what every instance's pub/sub listener delivers into.
///
/// Each stream has a bounded buffer. A stream whose client does not keep up overflows it and is closed
/// (`shop_notification_streams_dropped_total`); the client reconnects with `Last-Event-ID` and reads what it
/// missed from the inbox, so closing loses nothing and memory stays bounded by streams × buffer.
final class NotificationHub: Sendable {
    struct Stream: Sendable {
        let id: UUID
        let events: AsyncStream<StreamEvent>
        let continuation: AsyncStream<StreamEvent>.Continuation
    }

    private struct Subscriber {
        let user: UUID
        let continuation: AsyncStream<StreamEvent>.Continuation
    }

    private struct State {
        var subscribers: [UUID: Subscriber] = [:]
        var byUser: [UUID: Set<UUID>] = [:]
        var closed = false
    }

    let capacity: Int
    let maxStreams: Int
    private let state = Mutex(State())
    private let dropped = Atomic<Int>(0)
    private let openGauge = Gauge(label: "shop_notification_streams_open")
    private let droppedCounter = Counter(label: "shop_notification_streams_dropped_total")

    init(capacity: Int, maxStreams: Int) {
        self.capacity = capacity
        self.maxStreams = maxStreams
    }

    /// Opens a stream for `user`; nil when this instance has `maxStreams` open or is shutting down.
    func open(user: UUID) -> Stream? {
        let id = UUID()
        let (events, continuation) = AsyncStream.makeStream(
            of: StreamEvent.self,
            bufferingPolicy: .bufferingOldest(self.capacity)
        )
        let count = self.state.withLock { state -> Int? in
            guard !state.closed, state.subscribers.count < self.maxStreams else { return nil }
            state.subscribers[id] = Subscriber(user: user, continuation: continuation)
            state.byUser[user, default: []].insert(id)
            return state.subscribers.count
        }
        guard let count else {
            continuation.finish()
            return nil
        }
        self.openGauge.record(count)
        return Stream(id: id, events: events, continuation: continuation)
    }

    /// Forgets a stream (its handler ended).
    func close(_ id: UUID) {
        let (subscriber, count) = self.state.withLock { state -> (Subscriber?, Int) in
            guard let subscriber = state.subscribers.removeValue(forKey: id) else {
                return (nil, state.subscribers.count)
            }
            state.byUser[subscriber.user]?.remove(id)
            if state.byUser[subscriber.user]?.isEmpty == true { state.byUser[subscriber.user] = nil }
            return (subscriber, state.subscribers.count)
        }
        subscriber?.continuation.finish()
        self.openGauge.record(count)
    }

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
        let continuations = self.state.withLock { state in
            state.closed = true
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    private func overflowed(_ id: UUID) {
        self.dropped.add(1, ordering: .relaxed)
        self.droppedCounter.increment()
        let subscriber = self.state.withLock { $0.subscribers[id] }
        subscriber?.continuation.finish()
    }
}
