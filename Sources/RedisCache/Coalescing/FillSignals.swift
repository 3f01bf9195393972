import Synchronization

/// Wakes callers waiting for another caller (in any process) to fill an entry.
///
/// A waiter *arms* a ticket before it looks at Redis, then waits on it; a fill announced in between is not
/// lost, because the ticket remembers it. Announcements arrive over pub/sub (at most once), so waiters also
/// wake up on their own after a poll interval and look again.
final class FillSignals: Sendable {
    struct Ticket: Sendable, Hashable {
        let key: String
        let id: UInt64
    }

    private enum Slot: Sendable {
        case armed
        case signalled
        case waiting(CheckedContinuation<Void, Never>)
    }

    private struct State: Sendable {
        var slots: [String: [UInt64: Slot]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Registers interest in `key`; call before checking Redis, then ``wait(_:upTo:)``.
    func arm(_ key: String) -> Ticket {
        self.state.withLock { state in
            state.nextID &+= 1
            state.slots[key, default: [:]][state.nextID] = .armed
            return Ticket(key: key, id: state.nextID)
        }
    }

    /// Forgets a ticket.
    func disarm(_ ticket: Ticket) {
        let continuation = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            let slot = state.slots[ticket.key]?.removeValue(forKey: ticket.id)
            if state.slots[ticket.key]?.isEmpty == true { state.slots[ticket.key] = nil }
            if case .waiting(let continuation) = slot { return continuation }
            return nil
        }
        continuation?.resume()
    }

    /// Waits until the ticket's key is announced, `timeout` passes, or the task is cancelled; then disarms it.
    /// - Returns: True when it was woken by an announcement.
    @discardableResult
    func wait(_ ticket: Ticket, upTo timeout: Duration) async -> Bool {
        if self.consumeIfSignalled(ticket) {
            self.disarm(ticket)
            return true
        }
        let woken = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            group.addTask {
                await self.suspend(ticket)
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        let signalled = self.consumeIfSignalled(ticket)
        self.disarm(ticket)
        return woken || signalled
    }

    /// Announces that `key` was filled.
    func signal(_ key: String) {
        let continuations = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard var slots = state.slots[key] else { return [] }
            var waiting: [CheckedContinuation<Void, Never>] = []
            for (id, slot) in slots {
                if case .waiting(let continuation) = slot { waiting.append(continuation) }
                slots[id] = .signalled
            }
            state.slots[key] = slots
            return waiting
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Wakes every waiter (announcements may have been lost, for example while pub/sub reconnected).
    func signalAll() {
        let keys = self.state.withLock { Array($0.slots.keys) }
        for key in keys { self.signal(key) }
    }

    /// How many tickets are armed.
    var armedCount: Int {
        self.state.withLock { $0.slots.values.reduce(0) { $0 + $1.count } }
    }

    private func consumeIfSignalled(_ ticket: Ticket) -> Bool {
        self.state.withLock { state in
            if case .signalled = state.slots[ticket.key]?[ticket.id] {
                state.slots[ticket.key]?[ticket.id] = .armed
                return true
            }
            return false
        }
    }

    private func suspend(_ ticket: Ticket) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    guard !Task.isCancelled, let slot = state.slots[ticket.key]?[ticket.id] else { return true }
                    if case .armed = slot {
                        state.slots[ticket.key]?[ticket.id] = .waiting(continuation)
                        return false
                    }
                    return true
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .waiting(let continuation) = state.slots[ticket.key]?[ticket.id] else { return nil }
                state.slots[ticket.key]?[ticket.id] = .armed
                return continuation
            }
            continuation?.resume()
        }
    }
}
