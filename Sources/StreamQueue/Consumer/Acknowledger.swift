import RedisClient
import Synchronization

/// Acknowledges a consumer's deliveries of one stream in batches (``AcknowledgementBatch``): one
/// `XACK <stream> <group> <id>...` for the acknowledgements that arrived while the previous one was in flight.
///
/// A caller waits until its batch was answered. A failed batch answers false to each of its callers, which then
/// acknowledge one by one with retries (``ConsumerRun/acknowledge(_:)``), so a batch changes how many commands
/// are sent, not what is acknowledged or when a handler's slot is freed relative to its acknowledgement.
final class Acknowledger: Sendable {
    private let state: Mutex<AcknowledgementBatch<CheckedContinuation<Bool, Never>>>
    private let send: @Sendable ([String]) async throws -> Void

    /// - Parameters:
    ///   - maximum: The most ids in one `XACK`.
    ///   - send: Sends one `XACK` for these ids.
    init(maximum: Int = 512, send: @escaping @Sendable ([String]) async throws -> Void) {
        self.state = Mutex(AcknowledgementBatch(maximum: maximum))
        self.send = send
    }

    /// Acknowledges entry `id` with the others that arrive meanwhile.
    /// - Returns: Whether its batch was acknowledged (false: the caller acknowledges it on its own).
    func acknowledge(_ id: String) async -> Bool {
        await withCheckedContinuation { continuation in
            let arrival = self.state.withLock { $0.arrive(id, waiter: continuation) }
            if case .send(let batch) = arrival {
                // The sending outlives no one: it ends when nothing waits, and every waiter is answered.
                Task { await self.sendBatches(starting: batch) }
            }
        }
    }

    private func sendBatches(starting first: [(id: String, waiter: CheckedContinuation<Bool, Never>)]) async {
        var batch = first
        while true {
            let acknowledged: Bool
            do {
                try await self.send(batch.map(\.id))
                acknowledged = true
            } catch {
                acknowledged = false
            }
            for entry in batch { entry.waiter.resume(returning: acknowledged) }
            guard let next = self.state.withLock({ $0.sent() }) else { return }
            batch = next
        }
    }
}
