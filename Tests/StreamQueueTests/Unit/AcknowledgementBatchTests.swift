import Testing

@testable import StreamQueue

/// The batching of acknowledgements, as a pure state machine.
@Suite struct AcknowledgementBatchTests {
    @Test func theFirstArrivalIsSentAtOnceAndThoseDuringTheFlightGoTogetherNext() {
        var batch = AcknowledgementBatch<Int>(maximum: 3)
        guard case .send(let first) = batch.arrive("1-0", waiter: 1) else {
            Issue.record("nothing was in flight: the first arrival must be sent")
            return
        }
        #expect(first.map(\.id) == ["1-0"])
        #expect(batch.isSending)
        for (index, id) in ["2-0", "3-0", "4-0", "5-0"].enumerated() {
            guard case .wait = batch.arrive(id, waiter: index + 2) else {
                Issue.record("\(id) arrived while an XACK was in flight: it must wait")
                return
            }
        }
        // At most three per batch, in arrival order, each with its own waiter.
        let second = batch.sent()
        #expect(second?.map(\.id) == ["2-0", "3-0", "4-0"])
        #expect(second?.map(\.waiter) == [2, 3, 4])
        #expect(batch.sent()?.map(\.id) == ["5-0"])
        // Nothing waits: nothing is in flight any more, and the next arrival is sent at once again.
        #expect(batch.sent() == nil)
        #expect(!batch.isSending)
        guard case .send(let again) = batch.arrive("6-0", waiter: 6) else {
            Issue.record("nothing was in flight: the arrival must be sent")
            return
        }
        #expect(again.map(\.id) == ["6-0"])
    }
}
