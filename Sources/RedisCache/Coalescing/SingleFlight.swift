import Synchronization

/// Coalesces concurrent requests for one key inside a process: the first caller (the leader) does the work,
/// callers that arrive while it runs (followers) wait for its outcome instead of repeating it.
///
/// An outcome says whether followers may take it. A value the leader loaded from the source of truth while an
/// invalidation raced with it (or while Redis was unusable, so no invalidation could be seen) is not shareable:
/// a follower may have arrived *after* a write returned, and must not get what was read before that write. Such
/// followers run once more — in a new flight, which starts after they arrived — and take whatever it gives.
/// If the leader is cancelled, its followers run again too; any other error of the leader is theirs as well.
final class SingleFlight<Value: Sendable>: Sendable {
    /// What the leader produced.
    struct Outcome: Sendable {
        var value: Value
        /// Whether followers may use it (see the type's description).
        var shareable: Bool
    }

    private enum Resolution: Sendable {
        case outcome(Outcome)
        case failure(any Error)
        case runAgain
    }

    private struct Flight: Sendable {
        var waiters: [UInt64: CheckedContinuation<Resolution, Never>] = [:]
    }

    private struct State: Sendable {
        var flights: [String: Flight] = [:]
        var nextWaiterID: UInt64 = 0
        /// Followers that have an id but have not stored their continuation yet; one cancelled in that
        /// moment is removed from here, and finds itself cancelled when it tries to store it.
        var joining: Set<UInt64> = []
    }

    private let state = Mutex(State())

    init() {}

    /// Runs `work` for `key` unless a flight for it is already running, in which case it waits for that one.
    /// - Parameters:
    ///   - key: What is being fetched.
    ///   - onJoin: Called when this caller becomes a follower (for statistics).
    ///   - work: The work of a leader.
    /// - Returns: The value.
    func run(
        _ key: String,
        onJoin: () -> Void = {},
        _ work: () async throws -> Outcome
    ) async throws -> Value {
        var attempt = 0
        while true {
            attempt += 1
            let waiterID: UInt64? = self.state.withLock { state in
                if state.flights[key] != nil {
                    state.nextWaiterID &+= 1
                    state.joining.insert(state.nextWaiterID)
                    return state.nextWaiterID
                }
                state.flights[key] = Flight()
                return nil
            }
            guard let waiterID else {
                return try await self.lead(key, work)
            }
            onJoin()
            switch await self.follow(key, waiterID: waiterID) {
            case .outcome(let outcome):
                if outcome.shareable || attempt > 1 { return outcome.value }
            case .failure(let error):
                throw error
            case .runAgain:
                break
            }
            try Task.checkCancellation()
        }
    }

    /// How many keys have a flight in progress.
    var inFlight: Int {
        self.state.withLock { $0.flights.count }
    }

    private func lead(_ key: String, _ work: () async throws -> Outcome) async throws -> Value {
        let resolution: Resolution
        let result: Result<Outcome, any Error>
        do {
            let outcome = try await work()
            resolution = .outcome(outcome)
            result = .success(outcome)
        } catch is CancellationError {
            resolution = .runAgain
            result = .failure(CancellationError())
        } catch {
            resolution = .failure(error)
            result = .failure(error)
        }
        let waiters = self.state.withLock { state in
            state.flights.removeValue(forKey: key)?.waiters ?? [:]
        }
        for waiter in waiters.values { waiter.resume(returning: resolution) }
        return try result.get().value
    }

    private func follow(_ key: String, waiterID: UInt64) async -> Resolution {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Resolution, Never>) in
                let registered = self.state.withLock { state -> Resolution? in
                    guard state.joining.remove(waiterID) != nil else { return .failure(CancellationError()) }
                    guard state.flights[key] != nil else { return .runAgain }
                    state.flights[key]!.waiters[waiterID] = continuation
                    return nil
                }
                if let registered { continuation.resume(returning: registered) }
            }
        } onCancel: {
            let continuation = self.state.withLock { state -> CheckedContinuation<Resolution, Never>? in
                if let continuation = state.flights[key]?.waiters.removeValue(forKey: waiterID) {
                    return continuation
                }
                state.joining.remove(waiterID)
                return nil
            }
            continuation?.resume(returning: .failure(CancellationError()))
        }
    }
}
