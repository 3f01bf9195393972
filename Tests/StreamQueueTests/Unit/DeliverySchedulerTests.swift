import NIOCore
import RedisClient
import Testing

@testable import StreamQueue

private func delivery(_ id: String, key: String? = nil, kind: StreamKind = .topic) -> Delivery {
    Delivery(
        kind: kind,
        entry: RedisStreamEntry(id: id, fields: [:]),
        message: QueueMessage(id: "message-\(id)", type: "t", payload: ByteBuffer(), key: key, entryID: id)
    )
}

@Suite struct DeliverySchedulerTests {
    @Test func itHoldsNoMoreThanItsCapacityAndIgnoresRepeats() async {
        let scheduler = DeliveryScheduler(capacity: 2, perKey: false)
        #expect(scheduler.freeSlots == 2)
        _ = scheduler.add([delivery("1-0"), delivery("2-0"), delivery("1-0")])
        #expect(scheduler.heldCount == 2)
        #expect(scheduler.freeSlots == 0)
        let first = await scheduler.next()
        #expect(first?.entry.id == "1-0")
        #expect(scheduler.finish(first!) == nil)
        #expect(scheduler.freeSlots == 1)
        #expect(await scheduler.waitForSlots() == 1)
    }

    @Test func perKeyDeliveriesWaitForTheirPredecessor() async {
        let scheduler = DeliveryScheduler(capacity: 10, perKey: true)
        _ = scheduler.add([
            delivery("1-0", key: "a"), delivery("2-0", key: "a"), delivery("3-0", key: "b"), delivery("4-0"),
        ])
        // Only the first of key "a" is ready; the second waits behind it.
        let ready = [await scheduler.next(), await scheduler.next(), await scheduler.next()].compactMap { $0?.entry.id }
        #expect(ready == ["1-0", "3-0", "4-0"])
        let firstOfA = delivery("1-0", key: "a")
        #expect(scheduler.finish(firstOfA)?.entry.id == "2-0")
        #expect(scheduler.finish(delivery("2-0", key: "a")) == nil)
        // Key "a" is free again: a new delivery of it is ready at once.
        _ = scheduler.add([delivery("5-0", key: "a")])
        #expect(await scheduler.next()?.entry.id == "5-0")
    }

    @Test func closingReturnsWhatNeverStartedAndWakesIdleWorkers() async {
        let scheduler = DeliveryScheduler(capacity: 10, perKey: true)
        _ = scheduler.add([delivery("1-0", key: "a"), delivery("2-0", key: "a"), delivery("3-0")])
        let running = await scheduler.next()
        #expect(running?.entry.id == "1-0")
        async let idle = scheduler.next()  // gets 3-0
        #expect(await idle?.entry.id == "3-0")
        async let waiting = scheduler.next()  // nothing ready: waits until closed
        try? await Task.sleep(for: .milliseconds(20))
        let unstarted = scheduler.close()
        #expect(unstarted.map(\.entry.id) == ["2-0"])
        #expect(await waiting == nil)
        // The running one finishes; its successor is not handed out after close.
        #expect(scheduler.finish(running!) == nil)
        #expect(scheduler.add([delivery("9-0")]).map(\.entry.id) == ["9-0"])
        #expect(await scheduler.waitForSlots() == 0)
    }

    @Test func renewalsAreDueAfterTheIntervalAndLostDeliveriesAreSkipped() {
        let scheduler = DeliveryScheduler(capacity: 10, perKey: false)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        _ = scheduler.add([delivery("1-0"), delivery("2-0", kind: .retry)], now: start)
        #expect(scheduler.dueForRenewal(interval: .milliseconds(100), now: start + .milliseconds(50)).isEmpty)
        let due = scheduler.dueForRenewal(interval: .milliseconds(100), now: start + .milliseconds(100))
        #expect(
            Set(due) == [DeliveryHandle(kind: .topic, entryID: "1-0"), DeliveryHandle(kind: .retry, entryID: "2-0")]
        )
        // Renewed just now: not due again until another interval passes.
        #expect(scheduler.dueForRenewal(interval: .milliseconds(100), now: start + .milliseconds(150)).isEmpty)
        scheduler.markLost([DeliveryHandle(kind: .topic, entryID: "1-0")])
        #expect(scheduler.isLost(DeliveryHandle(kind: .topic, entryID: "1-0")))
        let later = scheduler.dueForRenewal(interval: .milliseconds(100), now: start + .milliseconds(300))
        #expect(later == [DeliveryHandle(kind: .retry, entryID: "2-0")])
    }
}

@Suite struct TopicKeysTests {
    @Test func everyKeyOfATopicSharesItsHashTag() {
        let keys = TopicKeys(prefix: "shop:queue:", topic: "orders")
        for key in [keys.stream, keys.dead, keys.retry("emails"), keys.delayed("emails"), keys.published("m-1")] {
            #expect(key.hasPrefix("shop:queue:{orders}:"))
        }
    }

    @Test func namesAreValidated() {
        #expect(throws: Never.self) { try TopicKeys.validate("orders.v1") }
        for bad in ["", "a{b", "a}b", "tab\there", String(repeating: "x", count: 201)] {
            #expect(throws: StreamQueueError.self) { try TopicKeys.validate(bad) }
        }
    }

    @Test func entryIDsAreRecognised() {
        #expect(StreamQueue.isEntryID("1700000000000-0"))
        #expect(StreamQueue.isEntryID("12"))
        #expect(!StreamQueue.isEntryID("1-2-3"))
        #expect(!StreamQueue.isEntryID("abc"))
        #expect(!StreamQueue.isEntryID("-1"))
    }
}
