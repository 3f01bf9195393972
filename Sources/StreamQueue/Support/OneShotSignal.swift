import NIOConcurrencyHelpers

/// An event that happens once (shutdown requested, workers finished); any number of tasks can wait for it,
/// with or without a time limit. Waiting ends early when the waiting task is cancelled.
final class OneShotSignal: Sendable {
    private struct State: Sendable {
        var fired = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Whether the event happened.
    var isFired: Bool { self.state.withLockedValue { $0.fired } }

    /// Makes the event happen and wakes every waiter; later calls do nothing.
    func fire() {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the event happens or the task is cancelled.
    func wait() async {
        let id = self.state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Waits until the event happens, `duration` passes, or the task is cancelled.
    /// - Parameter duration: The longest wait.
    /// - Returns: True when the event happened.
    @discardableResult
    func wait(upTo duration: Duration) async -> Bool {
        if self.isFired { return true }
        guard duration > .zero else { return false }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: duration)
                return false
            }
            _ = await group.next()
            group.cancelAll()
            return self.isFired
        }
    }
}
