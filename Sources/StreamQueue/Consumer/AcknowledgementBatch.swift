/// Which acknowledgements of one stream go out together, as a pure state machine: while one `XACK` is in flight,
/// those that arrive wait and go out together in the next (natural batching: no timer, and no added latency when
/// acknowledgements arrive one at a time).
struct AcknowledgementBatch<Waiter> {
    /// The most entry ids in one `XACK`.
    let maximum: Int
    private(set) var waiting: [(id: String, waiter: Waiter)] = []
    /// Whether an `XACK` is in flight.
    private(set) var isSending = false

    init(maximum: Int) {
        self.maximum = max(1, maximum)
    }

    /// What the caller of ``arrive(_:waiter:)`` does next.
    enum Arrival {
        /// Nothing was in flight: send this batch now (it holds the arrival).
        case send([(id: String, waiter: Waiter)])
        /// An `XACK` is in flight: the arrival waits for the next batch.
        case wait
    }

    /// An acknowledgement of entry `id` arrives.
    mutating func arrive(_ id: String, waiter: Waiter) -> Arrival {
        self.waiting.append((id, waiter))
        guard !self.isSending else { return .wait }
        self.isSending = true
        return .send(self.take())
    }

    /// The batch in flight was answered: the next batch to send, or nil when nothing waits (nothing is in flight
    /// any more).
    mutating func sent() -> [(id: String, waiter: Waiter)]? {
        guard !self.waiting.isEmpty else {
            self.isSending = false
            return nil
        }
        return self.take()
    }

    private mutating func take() -> [(id: String, waiter: Waiter)] {
        let count = min(self.maximum, self.waiting.count)
        let batch = Array(self.waiting.prefix(count))
        self.waiting.removeFirst(count)
        return batch
    }
}
