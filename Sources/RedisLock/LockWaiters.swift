import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Local waiters for locks, woken when a release notice for their lock arrives.
///
/// A waiter registers *before* it tries to acquire, so a release that happens between its failed attempt and
/// its wait is not lost: the notice marks it woken and its wait returns at once.
final class LockWaiters: Sendable {
    private enum Waiter {
        case idle(woken: Bool)
        case waiting(CheckedContinuation<Void, Never>, Scheduled<Void>)
    }

    private struct State {
        var waiters: [String: [UInt64: Waiter]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.eventLoop = eventLoop
    }

    /// Registers a waiter for `name`; call ``unregister(_:name:)`` when done.
    func register(_ name: String) -> UInt64 {
        self.state.withLockedValue { state in
            state.nextID += 1
            state.waiters[name, default: [:]][state.nextID] = .idle(woken: false)
            return state.nextID
        }
    }

    ///
    /// A waiter that leaves without the lock (its wait ended, it was cancelled, an attempt failed) passes
    /// `passingWake` so the next waiter tries in its place: the wake it may have taken is not lost.
    func unregister(_ id: UInt64, name: String, passingWake: Bool = false) {
        let waiter = self.state.withLockedValue { state -> Waiter? in
            let waiter = state.waiters[name]?.removeValue(forKey: id)
            if state.waiters[name]?.isEmpty == true { state.waiters[name] = nil }
            return waiter
        }
        if case .waiting(let continuation, let timer) = waiter {
            timer.cancel()
            continuation.resume()
        }
        if passingWake { self.wake(name) }
    }

    /// Suspends until a release notice for `name` arrives, `timeout` passes, or the task is cancelled.
    /// Returns at once if a notice arrived since the waiter registered or last waited.
    func wait(_ id: UInt64, name: String, timeout: Duration) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let timer = self.eventLoop.scheduleTask(in: .nanoseconds(Self.nanoseconds(timeout))) {
                    self.resume(id, name: name)
                }
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    guard case .idle(let woken) = state.waiters[name]?[id] else { return true }
                    if woken {
                        state.waiters[name]?[id] = .idle(woken: false)
                        return true
                    }
                    state.waiters[name]?[id] = .waiting(continuation, timer)
                    return false
                }
                if resumeNow {
                    timer.cancel()
                    continuation.resume()
                }
            }
        } onCancel: {
            self.resume(id, name: name)
        }
    }

    /// Wakes the longest-waiting waiter of `name` (a release notice arrived).
    ///
    /// One waiter per instance competes for a released lock instead of all of them: the others would only
    /// find it taken again, and their attempts would slow the holder down. A waiter that was woken but
    /// leaves without the lock passes the wake on (``unregister(_:name:passingWake:)``), so none is lost.
    func wake(_ name: String) {
        let ready = self.state.withLockedValue { state -> (CheckedContinuation<Void, Never>, Scheduled<Void>)? in
            guard let waiters = state.waiters[name], let oldest = waiters.keys.min() else { return nil }
            switch waiters[oldest]! {
            case .idle:
                state.waiters[name]?[oldest] = .idle(woken: true)
                return nil
            case .waiting(let continuation, let timer):
                state.waiters[name]?[oldest] = .idle(woken: false)
                return (continuation, timer)
            }
        }
        if let (continuation, timer) = ready {
            timer.cancel()
            continuation.resume()
        }
    }

    /// Wakes every waiter of `name` (notices may have been missed).
    private func wakeEvery(_ name: String) {
        let continuations = self.state.withLockedValue {
            state -> [(CheckedContinuation<Void, Never>, Scheduled<Void>)] in
            guard let waiters = state.waiters[name] else { return [] }
            var ready: [(CheckedContinuation<Void, Never>, Scheduled<Void>)] = []
            for (id, waiter) in waiters {
                switch waiter {
                case .idle: state.waiters[name]?[id] = .idle(woken: true)
                case .waiting(let continuation, let timer):
                    ready.append((continuation, timer))
                    state.waiters[name]?[id] = .idle(woken: false)
                }
            }
            return ready
        }
        for (continuation, timer) in continuations {
            timer.cancel()
            continuation.resume()
        }
    }

    /// Wakes every waiter of every lock (notices may have been missed).
    func wakeAll() {
        let names = self.state.withLockedValue { Array($0.waiters.keys) }
        for name in names { self.wakeEvery(name) }
    }

    private func resume(_ id: UInt64, name: String) {
        let continuation = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard case .waiting(let continuation, _) = state.waiters[name]?[id] else { return nil }
            state.waiters[name]?[id] = .idle(woken: false)
            return continuation
        }
        continuation?.resume()
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.clampedNanoseconds
    }
}
