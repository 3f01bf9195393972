import NIOConcurrencyHelpers
import NIOCore

/// Hands held deliveries to a fixed set of workers: at most `capacity` held at once (so the reader asks for no
/// more than the free slots), and, in per-key mode, one delivery per key at a time in arrival order.
///
/// Pure bookkeeping under a lock, no I/O; the consumer's reader adds, its workers take and finish.
final class DeliveryScheduler: Sendable {
    private struct Held: Sendable {
        var lastRenewed: NIODeadline
        var lost = false
    }

    private struct State: Sendable {
        var ready = CircularBuffer<Delivery>()
        /// Keys with a delivery being handled, and the deliveries of that key waiting behind it.
        var keyQueues: [String: CircularBuffer<Delivery>] = [:]
        var held: [DeliveryHandle: Held] = [:]
        var workers = CircularBuffer<(id: UInt64, continuation: CheckedContinuation<Delivery?, Never>)>()
        var slotWaiter: (id: UInt64, continuation: CheckedContinuation<Int, Never>)?
        var nextID: UInt64 = 0
        var closed = false
    }

    let capacity: Int
    let perKey: Bool
    private let state = NIOLockedValueBox(State())

    /// Creates a scheduler.
    /// - Parameters:
    ///   - capacity: The most deliveries held at once (the consumer's concurrency).
    ///   - perKey: Whether deliveries with one key are handled one at a time.
    init(capacity: Int, perKey: Bool) {
        self.capacity = max(1, capacity)
        self.perKey = perKey
    }

    /// How many more deliveries may be held now.
    var freeSlots: Int {
        self.state.withLockedValue { $0.closed ? 0 : max(0, self.capacity - $0.held.count) }
    }

    /// How many deliveries are held (being handled or waiting).
    var heldCount: Int { self.state.withLockedValue { $0.held.count } }

    /// Adds deliveries. Ones already held (a reclaim of our own delivery) are ignored.
    /// - Returns: The deliveries refused because the scheduler is closed (the caller hands them back).
    func add(_ deliveries: [Delivery], now: NIODeadline = .now()) -> [Delivery] {
        var handOver: [(CheckedContinuation<Delivery?, Never>, Delivery)] = []
        let refused = self.state.withLockedValue { state -> [Delivery] in
            guard !state.closed else { return deliveries }
            for delivery in deliveries where state.held[delivery.handle] == nil {
                state.held[delivery.handle] = Held(lastRenewed: now)
                if self.perKey, let key = delivery.message.key {
                    if state.keyQueues[key] != nil {
                        state.keyQueues[key]!.append(delivery)
                        continue
                    }
                    state.keyQueues[key] = CircularBuffer()
                }
                if let worker = state.workers.popFirst() {
                    handOver.append((worker.continuation, delivery))
                } else {
                    state.ready.append(delivery)
                }
            }
            return []
        }
        for (continuation, delivery) in handOver { continuation.resume(returning: delivery) }
        return refused
    }

    /// The next delivery to handle; nil when the scheduler is closed (or the task cancelled).
    func next() async -> Delivery? {
        let id = self.state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Delivery?, Never>) in
                enum Next {
                    case now(Delivery?)
                    case wait
                }
                let next = self.state.withLockedValue { state -> Next in
                    if let delivery = state.ready.popFirst() { return .now(delivery) }
                    if state.closed || Task.isCancelled { return .now(nil) }
                    state.workers.append((id, continuation))
                    return .wait
                }
                if case .now(let delivery) = next { continuation.resume(returning: delivery) }
            }
        } onCancel: {
            let worker = self.state.withLockedValue { state -> CheckedContinuation<Delivery?, Never>? in
                guard let index = state.workers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.workers.remove(at: index).continuation
            }
            worker?.resume(returning: nil)
        }
    }

    /// Records that a delivery is done (acknowledged, retried, dead-lettered or abandoned).
    /// - Returns: In per-key mode, the next delivery of the same key, which the caller handles next.
    func finish(_ delivery: Delivery) -> Delivery? {
        let (successor, waiter) = self.state.withLockedValue {
            state -> (Delivery?, (id: UInt64, continuation: CheckedContinuation<Int, Never>)?) in
            state.held[delivery.handle] = nil
            var successor: Delivery?
            if self.perKey, let key = delivery.message.key {
                if !state.closed, let next = state.keyQueues[key]?.popFirst() {
                    successor = next
                } else {
                    state.keyQueues[key] = nil
                }
            }
            guard let waiter = state.slotWaiter, state.held.count < self.capacity else { return (successor, nil) }
            state.slotWaiter = nil
            return (successor, waiter)
        }
        waiter?.continuation.resume(returning: max(1, self.freeSlots))
        return successor
    }

    /// Waits until at least one slot is free.
    /// - Returns: The free slots; 0 when the scheduler closed or the task was cancelled.
    func waitForSlots() async -> Int {
        let id = self.state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
                let free = self.state.withLockedValue { state -> Int? in
                    if state.closed || Task.isCancelled { return 0 }
                    let free = self.capacity - state.held.count
                    if free > 0 { return free }
                    state.slotWaiter = (id, continuation)
                    return nil
                }
                if let free { continuation.resume(returning: free) }
            }
        } onCancel: {
            let waiter = self.state.withLockedValue { state -> CheckedContinuation<Int, Never>? in
                guard let waiter = state.slotWaiter, waiter.id == id else { return nil }
                state.slotWaiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: 0)
        }
    }

    /// Stops handing out deliveries: idle workers and the slot waiter are woken with nothing.
    /// - Returns: The held deliveries that were never started (the caller hands them back to the group).
    func close() -> [Delivery] {
        let (unstarted, workers, waiter) = self.state.withLockedValue { state in
            state.closed = true
            var unstarted = Array(state.ready)
            state.ready.removeAll()
            for (key, waiting) in state.keyQueues {
                unstarted.append(contentsOf: waiting)
                state.keyQueues[key] = CircularBuffer()
            }
            for delivery in unstarted { state.held[delivery.handle] = nil }
            let workers = Array(state.workers)
            state.workers.removeAll()
            let waiter = state.slotWaiter
            state.slotWaiter = nil
            return (unstarted, workers, waiter)
        }
        for worker in workers { worker.continuation.resume(returning: nil) }
        waiter?.continuation.resume(returning: 0)
        return unstarted
    }

    /// Held deliveries last renewed at least `interval` ago; they are marked renewed now.
    func dueForRenewal(interval: TimeAmount, now: NIODeadline = .now()) -> [DeliveryHandle] {
        self.state.withLockedValue { state in
            var due: [DeliveryHandle] = []
            for (handle, held) in state.held where !held.lost && now - held.lastRenewed >= interval {
                due.append(handle)
                state.held[handle]?.lastRenewed = now
            }
            return due
        }
    }

    /// Records that deliveries now belong to another consumer (taken over after a stall): they must not be
    /// acknowledged or retried by this one.
    func markLost(_ handles: [DeliveryHandle]) {
        self.state.withLockedValue { state in
            for handle in handles { state.held[handle]?.lost = true }
        }
    }

    /// Whether a delivery is held (read and not finished).
    func isHeld(_ handle: DeliveryHandle) -> Bool {
        self.state.withLockedValue { $0.held[handle] != nil }
    }

    /// Whether a delivery was taken over by another consumer.
    func isLost(_ handle: DeliveryHandle) -> Bool {
        self.state.withLockedValue { $0.held[handle]?.lost ?? false }
    }
}
