import NIOCore
import Testing

@testable import RedisClient

@Suite struct RequestQueueTests {
    typealias Queue = RequestQueue<Int>

    private func ok(_ text: String = "OK") -> RESPValue { .simpleString(ByteBuffer(string: text)) }

    private func waiterAndValue(_ result: Queue.ReceiveResult) -> (Int, RESPValue)? {
        if case .completed(.value(let waiter, let value)) = result { return (waiter, value) }
        return nil
    }

    @Test func repliesCompleteRequestsInOrderAndOneFlushIsScheduled() {
        var queue = Queue()
        #expect(
            queue.enqueue(id: 1, commands: [RedisCommand("GET", "a")], waiter: 1, deadline: .max, collectsAll: false)
                .isScheduleFlush
        )
        #expect(
            !queue.enqueue(id: 2, commands: [RedisCommand("GET", "b")], waiter: 2, deadline: .max, collectsAll: false)
                .isScheduleFlush
        )
        let bytes = queue.takeOutbound()
        #expect(bytes.map { String(buffer: $0) } == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        #expect(queue.takeOutbound() == nil)
        #expect(self.waiterAndValue(queue.receive(self.ok("A")))! == (1, self.ok("A")))
        #expect(self.waiterAndValue(queue.receive(self.ok("B")))! == (2, self.ok("B")))
        #expect(queue.inFlightCount == 0)
    }

    @Test func pipelineCollectsEveryReply() {
        var queue = Queue()
        _ = queue.enqueue(
            id: 1,
            commands: [RedisCommand("A"), RedisCommand("B")],
            waiter: 7,
            deadline: .max,
            collectsAll: true
        )
        guard case .consumed = queue.receive(.number(1)) else {
            Issue.record("first reply should not complete a pipeline of two")
            return
        }
        guard case .completed(.values(7, let values)) = queue.receive(.number(2)) else {
            Issue.record("second reply should complete it")
            return
        }
        #expect(values == [.number(1), .number(2)])
    }

    @Test func cancelledRequestsReplyIsDiscardedAndOthersUnaffected() {
        var queue = Queue()
        _ = queue.enqueue(id: 1, commands: [RedisCommand("A")], waiter: 1, deadline: .max, collectsAll: false)
        _ = queue.enqueue(id: 2, commands: [RedisCommand("B")], waiter: 2, deadline: .max, collectsAll: false)
        guard case .failure(1, _) = queue.cancel(id: 1, error: RedisError(.connectionClosed, "x")) else {
            Issue.record("cancel should fail waiter 1")
            return
        }
        guard case .consumed = queue.receive(self.ok("for-1")) else {
            Issue.record("reply of the cancelled request must be consumed silently")
            return
        }
        #expect(self.waiterAndValue(queue.receive(self.ok("for-2")))! == (2, self.ok("for-2")))
    }

    /// A caller cancelled before its enqueue: its cancellation handler found nothing to cancel, and the enqueue
    /// (which reads the task's cancellation under the same lock) refuses without writing anything.
    @Test func aCallerCancelledBeforeItsEnqueueIsRefusedAndNothingIsWritten() {
        var queue = Queue()
        #expect(queue.cancel(id: 5, error: RedisError(.connectionClosed, "x")) == nil)
        guard
            case .cancelled = queue.enqueue(
                id: 5,
                commands: [RedisCommand("A")],
                waiter: 5,
                deadline: .max,
                collectsAll: false,
                callerCancelled: true
            )
        else {
            Issue.record("expected cancelled")
            return
        }
        #expect(queue.inFlightCount == 0)
        #expect(queue.takeOutbound() == nil)
    }

    @Test func pushFramesNeverConsumeAReply() {
        var queue = Queue()
        _ = queue.enqueue(id: 1, commands: [RedisCommand("GET", "a")], waiter: 1, deadline: .max, collectsAll: false)
        let push = RESPValue.push([
            .blobString(ByteBuffer(string: "message")), .blobString(ByteBuffer(string: "ch")),
            .blobString(ByteBuffer(string: "x")),
        ])
        guard case .push = queue.receive(push) else {
            Issue.record("push must go to the push handler")
            return
        }
        #expect(queue.inFlightCount == 1)
        #expect(self.waiterAndValue(queue.receive(self.ok()))! == (1, self.ok()))
    }

    @Test func subscriptionConfirmationsCompleteASubscribeRequest() {
        var queue = Queue()
        _ = queue.enqueue(
            id: 1,
            commands: [RedisCommand("SUBSCRIBE", "a", "b")],
            waiter: 1,
            deadline: .max,
            kind: .pushConfirmations,
            expectedReplies: 2,
            collectsAll: true
        )
        func confirmation(_ channel: String, _ count: Int64) -> RESPValue {
            .push([
                .blobString(ByteBuffer(string: "subscribe")), .blobString(ByteBuffer(string: channel)), .number(count),
            ])
        }
        // A message for an already subscribed channel, arriving in between, is not a confirmation.
        let message = RESPValue.push([
            .blobString(ByteBuffer(string: "message")), .blobString(ByteBuffer(string: "a")),
            .blobString(ByteBuffer(string: "x")),
        ])
        guard case .consumed = queue.receive(confirmation("a", 1)) else {
            Issue.record("1st")
            return
        }
        guard case .push = queue.receive(message) else {
            Issue.record("message")
            return
        }
        guard case .completed(.values(1, let values)) = queue.receive(confirmation("b", 2)) else {
            Issue.record("2nd")
            return
        }
        #expect(values.count == 2)
    }

    @Test func errorReplyToSubscribeEndsIt() {
        var queue = Queue()
        _ = queue.enqueue(
            id: 1,
            commands: [RedisCommand("SUBSCRIBE", "a", "b")],
            waiter: 1,
            deadline: .max,
            kind: .pushConfirmations,
            expectedReplies: 2,
            collectsAll: true
        )
        guard case .completed(.values(1, let values)) = queue.receive(.simpleError(ByteBuffer(string: "NOPERM no")))
        else {
            Issue.record("an error reply ends the subscribe request")
            return
        }
        #expect(values.first?.isError == true)
        #expect(queue.inFlightCount == 0)
    }

    /// An error reply ends only the subscribe-family command it answers: the next command of the same request
    /// still has its replies coming, and they must not be handed to the request queued after it.
    @Test func anErrorEndsOnlyItsOwnSubscribeCommandAndTheNextRequestGetsItsOwnReply() {
        var queue = Queue()
        _ = queue.enqueue(
            id: 1,
            commands: [RedisCommand("SUBSCRIBE", "a", "b"), RedisCommand("PSUBSCRIBE", "p*")],
            waiter: 1,
            deadline: .max,
            kind: .pushConfirmations,
            expectedReplies: 3,
            collectsAll: true
        )
        _ = queue.enqueue(id: 2, commands: [RedisCommand("GET", "k")], waiter: 2, deadline: .max, collectsAll: false)
        guard case .consumed = queue.receive(.simpleError(ByteBuffer(string: "NOPERM channel"))) else {
            Issue.record("the SUBSCRIBE error must not end a request whose PSUBSCRIBE is still unanswered")
            return
        }
        guard
            case .completed(.values(1, let values)) = queue.receive(
                .simpleError(ByteBuffer(string: "NOPERM pattern"))
            )
        else {
            Issue.record("the PSUBSCRIBE error belongs to the subscribe request")
            return
        }
        #expect(values.count == 2)
        #expect(self.waiterAndValue(queue.receive(self.ok("value")))! == (2, self.ok("value")))
        #expect(queue.inFlightCount == 0)
    }

    /// A caller cancelled after its reply resumed it leaves nothing behind (each such id used to be kept forever).
    @Test func cancellingAfterTheReplyLeavesNothingBehind() {
        var queue = Queue()
        _ = queue.enqueue(id: 1, commands: [RedisCommand("A")], waiter: 1, deadline: .max, collectsAll: false)
        #expect(self.waiterAndValue(queue.receive(self.ok()))! == (1, self.ok()))
        #expect(queue.cancel(id: 1, error: RedisError(.connectionClosed, "x")) == nil)
        // Nothing remembers id 1: were it kept, this enqueue would be refused as cancelled.
        let again = queue.enqueue(id: 1, commands: [RedisCommand("A")], waiter: 1, deadline: .max, collectsAll: false)
        if case .cancelled = again { Issue.record("the id of a finished request was remembered") }
        #expect(queue.inFlightCount == 1)
    }

    @Test func unexpectedReplyIsReported() {
        var queue = Queue()
        guard case .unexpected = queue.receive(self.ok()) else {
            Issue.record("a reply with nothing waiting is out of step")
            return
        }
    }

    @Test func expiredRequestsFailButStayQueuedForTheirReplies() {
        var queue = Queue()
        _ = queue.enqueue(id: 1, commands: [RedisCommand("A")], waiter: 1, deadline: 100, collectsAll: false)
        _ = queue.enqueue(id: 2, commands: [RedisCommand("B")], waiter: 2, deadline: 500, collectsAll: false)
        let (early, deadEarly, _) = queue.expire(now: 50, deadAfter: 1_000)
        #expect(early.isEmpty && !deadEarly)
        let (completions, dead, _) = queue.expire(now: 200, deadAfter: 1_000)
        #expect(completions.count == 1)
        if case .failure(1, let error) = completions.first {
            #expect(error.code == .commandTimeout)
        } else {
            Issue.record("waiter 1 should time out")
        }
        #expect(!dead)
        #expect(queue.inFlightCount == 2)
        guard case .consumed = queue.receive(self.ok("late")) else {
            Issue.record("late reply discarded")
            return
        }
        #expect(self.waiterAndValue(queue.receive(self.ok("B")))! == (2, self.ok("B")))
        // A head request overdue by `deadAfter` marks the connection as dead.
        _ = queue.enqueue(id: 3, commands: [RedisCommand("C")], waiter: 3, deadline: 1_000, collectsAll: false)
        #expect(queue.expire(now: 2_500, deadAfter: 1_000).connectionLooksDead)
    }

    @Test func closeFailsEverythingAndRefusesNewWork() {
        var queue = Queue()
        _ = queue.enqueue(id: 1, commands: [RedisCommand("A")], waiter: 1, deadline: .max, collectsAll: false)
        _ = queue.enqueue(id: 2, commands: [RedisCommand("B")], waiter: 2, deadline: .max, collectsAll: false)
        let completions = queue.close(error: RedisError(.connectionClosed, "bye"))
        #expect(completions.count == 2)
        guard
            case .refused(let error) = queue.enqueue(
                id: 3,
                commands: [RedisCommand("C")],
                waiter: 3,
                deadline: .max,
                collectsAll: false
            )
        else {
            Issue.record("closed queue must refuse")
            return
        }
        // Refused before anything was written: not "closed under it", so a caller may send it again.
        #expect(error.code == .connectionUnavailable)
    }
}

extension RequestQueue.EnqueueResult {
    var isScheduleFlush: Bool {
        if case .scheduleFlush = self { return true }
        return false
    }
}
