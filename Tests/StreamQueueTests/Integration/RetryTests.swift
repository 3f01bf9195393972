import Foundation
import NIOCore
import RedisClient
import StreamQueue
import Synchronization
import Testing

@Suite struct RetryTests {
    @Test func aHandlerFailingTwiceThenSucceedingIsRetriedWithBackoff() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let minimum = Duration.milliseconds(200)
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(
                maxAttempts: 5,
                minimumDelay: minimum,
                initialDelay: .milliseconds(300)
            )
        ) { message in
            await log.started(message)
            await log.ended()
            if message.attempt < 3 { throw HandlerFailure("smtp unavailable (attempt \(message.attempt))") }
            await log.succeeded(message)
        }
        try await queue.publish(OutgoingMessage(id: "flaky", type: "t", payload: "p"), to: "orders")
        try await QueueTest.eventually("the third attempt succeeds") { await log.handledCount == 1 }
        #expect(await log.attempts["flaky"] == [1, 2, 3])
        let starts = try #require(await log.starts["flaky"])
        #expect(starts[1] - starts[0] >= minimum)
        #expect(starts[2] - starts[1] >= minimum)
        let final = try #require(await log.messages["flaky"])
        #expect(final.lastError == "smtp unavailable (attempt 2)")
        #expect(try await queue.deadLetters(topic: "orders").isEmpty)
        // The handler's return is recorded before its acknowledgement reaches Redis.
        try await QueueTest.eventually("the success is acknowledged") {
            try await queue.stats(topic: "orders").groups.first?.pending == 0
        }
        #expect(try await queue.stats(topic: "orders").delayed == 0)
        // Its history: two failures (from the topic stream, then from the retry stream), then the handled retry.
        let history = try #require(try await queue.messageHistory(topic: "orders", messageID: "flaky"))
        #expect(history.events.map(\.kind) == [.failed, .failed, .handled])
        #expect(history.events.map(\.attempt) == [1, 2, 3])
        #expect(history.events.map(\.inRetryStream) == [false, true, true])
        #expect(history.events.map(\.error) == ["smtp unavailable (attempt 1)", "smtp unavailable (attempt 2)", nil])
        #expect(history.events.allSatisfy { $0.group == "emails" && $0.consumer?.isEmpty == false })
        let firstFailure = history.events[0]
        #expect(firstFailure.retryAt.map { $0 > firstFailure.at } == true)
        // The failed first delivery names the topic entry: the group read it and acknowledged it (into its retries).
        #expect(history.entryID == firstFailure.entryID)
        #expect(history.message?.id == "flaky")
        #expect(history.groups == [GroupDelivery(group: "emails", state: .acknowledged)])
        await consumer.stop()
    }

    @Test func anAlwaysFailingMessageIsDeadLetteredAndCanBeReplayed() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let fixed = ManagedFlag()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(maxAttempts: 3)
        ) { message in
            await log.started(message)
            await log.ended()
            guard fixed.value else { throw HandlerFailure("template missing for \(message.type)") }
            await log.succeeded(message)
        }
        try await queue.publish(
            OutgoingMessage(id: "doomed", type: "order.placed", payload: "body", headers: ["traceparent": "tp"]),
            to: "orders"
        )
        try await QueueTest.eventually("it is dead-lettered") {
            try await queue.deadLetters(topic: "orders").count == 1
        }
        #expect(await log.attempts["doomed"] == [1, 2, 3])
        let dead = try #require(try await queue.deadLetters(topic: "orders").first)
        #expect(dead.reason == .handlerFailed)
        #expect(dead.error == "template missing for order.placed")
        #expect(dead.attempts == 3)
        #expect(dead.group == "emails")
        #expect(dead.message?.id == "doomed")
        #expect(dead.message?.payloadString == "body")
        #expect(dead.message?.headers == ["traceparent": "tp"])
        #expect(try await queue.deadLetter(topic: "orders", id: dead.id) == dead)
        #expect(try await queue.stats(topic: "orders").deadLetters == 1)

        // Fix the handler and replay: handled again from attempt 1, and gone from the dead letters.
        fixed.set()
        let replayed = try await queue.replayDeadLetter(topic: "orders", id: dead.id)
        #expect(replayed != nil)
        try await QueueTest.eventually("the replay is handled") { await log.handledCount == 1 }
        #expect(await log.messages["doomed"]?.attempt == 1)
        #expect(await log.messages["doomed"]?.lastError == nil)
        #expect(try await queue.deadLetters(topic: "orders").isEmpty)
        #expect(try await queue.replayDeadLetter(topic: "orders", id: dead.id) == nil)
        try await QueueTest.eventually("the retry stream is empty again") {
            let stats = try await queue.stats(topic: "orders")
            return stats.groups.first?.pending == 0 && stats.groups.first?.redeliveries == 0
        }
        let history = try #require(try await queue.messageHistory(topic: "orders", messageID: "doomed"))
        #expect(history.events.map(\.kind) == [.failed, .failed, .deadLettered, .replayed, .handled])
        let deadLettered = history.events[2]
        #expect(deadLettered.deadLetterID == dead.id)
        #expect(deadLettered.reason == .handlerFailed)
        #expect(deadLettered.attempt == 3)
        #expect(deadLettered.error == "template missing for order.placed")
        #expect(history.events[3].deadLetterID == dead.id)
        #expect(history.events[3].entryID == replayed)
        #expect(history.events[4].entryID == replayed)
        #expect(history.events[4].attempt == 1)
        await consumer.stop()
    }

    @Test func aMessageHistoryIsFoundByThePublishMarkerOrItsEventsAndCanBeTurnedOff() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        try await queue.createGroup(topic: "orders", group: "emails")
        try await queue.createGroup(topic: "orders", group: "audit")
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration()
        ) { message in
            await log.succeeded(message)
        }
        // Published with a deduplication window: found by its publish marker though it never failed.
        let receipt = try await queue.publish(
            OutgoingMessage(id: "smooth", type: "t", payload: "p"),
            to: "orders",
            deduplicationWindow: .seconds(60)
        )
        try await queue.publish(OutgoingMessage(id: "unmarked", type: "t", payload: "p"), to: "orders")
        try await QueueTest.eventually("both are handled") { await log.handledCount == 2 }
        try await QueueTest.eventually("both are acknowledged") {
            try await queue.stats(topic: "orders").groups.first { $0.name == "emails" }?.pending == 0
        }
        let smooth = try #require(try await queue.messageHistory(topic: "orders", messageID: "smooth"))
        #expect(smooth.entryID == receipt.entryID)
        #expect(smooth.message?.payloadString == "p")
        #expect(smooth.events.isEmpty)
        // Handled by `emails`; `audit` has no consumer and has not read it.
        #expect(
            smooth.groups == [
                GroupDelivery(group: "audit", state: .waiting), GroupDelivery(group: "emails", state: .acknowledged),
            ]
        )
        // No marker and no event: the queue cannot find it (the stream is not indexed by message id).
        #expect(try await queue.messageHistory(topic: "orders", messageID: "unmarked") == nil)
        #expect(try await queue.messageHistory(topic: "orders", messageID: "") == nil)
        await consumer.stop()

        // A pending delivery shows its consumer; with the history turned off, failures record nothing.
        let quietPrefix = QueueTest.prefix("quiet")
        var quiet = StreamQueueConfiguration()
        quiet.keyPrefix = quietPrefix
        quiet.historyLength = 0
        let quietQueue = StreamQueue(client: client, configuration: quiet, logger: QueueTest.logger)
        let held = ManagedFlag()
        let failing = QueueConsumer(
            queue: quietQueue,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(maxAttempts: 1)
        ) { message in
            if message.id == "slow" {
                held.set()
                try await Task.sleep(for: .seconds(3600))
            }
            throw HandlerFailure("no")
        }
        let task = Task { try await failing.run() }
        try await quietQueue.publish(OutgoingMessage(id: "fails", type: "t", payload: ""), to: "orders")
        try await quietQueue.publish(
            OutgoingMessage(id: "slow", type: "t", payload: ""),
            to: "orders",
            deduplicationWindow: .seconds(60)
        )
        try await QueueTest.eventually("the failing one is dead-lettered") {
            try await quietQueue.deadLetters(topic: "orders").count == 1
        }
        try await QueueTest.eventually("the slow one is running") { held.value }
        #expect(try await quietQueue.messageHistory(topic: "orders", messageID: "fails") == nil)
        let slow = try #require(try await quietQueue.messageHistory(topic: "orders", messageID: "slow"))
        guard case .pending(let holder, let deliveries, _) = slow.groups.first?.state else {
            Issue.record("expected a pending delivery, got \(slow.groups)")
            task.cancel()
            return
        }
        #expect(holder.isEmpty == false)
        #expect(deliveries == 1)
        task.cancel()
        _ = await task.result
    }

    @Test func deadLettersArePagedAndDeletable() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(maxAttempts: 1)
        ) { _ in throw HandlerFailure("no") }
        for index in 0..<5 {
            try await queue.publish(OutgoingMessage(id: "m-\(index)", type: "t", payload: ""), to: "orders")
        }
        try await QueueTest.eventually("five dead letters") { try await queue.deadLetters(topic: "orders").count == 5 }
        let first = try await queue.deadLetters(topic: "orders", limit: 2)
        let second = try await queue.deadLetters(topic: "orders", after: first.last?.id, limit: 2)
        let third = try await queue.deadLetters(topic: "orders", after: second.last?.id, limit: 2)
        #expect(first.count == 2)
        #expect(second.count == 2)
        #expect(third.count == 1)
        #expect(Set((first + second + third).compactMap { $0.message?.id }).count == 5)
        #expect(try await queue.deleteDeadLetter(topic: "orders", id: first[0].id))
        #expect(try await queue.deleteDeadLetter(topic: "orders", id: first[0].id) == false)
        let deleted = try #require(first[0].message?.id)
        let history = try #require(try await queue.messageHistory(topic: "orders", messageID: deleted))
        #expect(history.events.map(\.kind) == [.deadLettered, .deleted])
        #expect(history.events.allSatisfy { $0.deadLetterID == first[0].id })
        #expect(try await queue.deleteDeadLetter(topic: "orders", id: "not-an-id") == false)
        #expect(try await queue.deadLetters(topic: "orders").count == 4)
        await consumer.stop()
    }

    @Test func retriesOfOneMessageDoNotBlockOthers() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        // One handler slot only, and a retry that waits at least twenty seconds: everything else (20 no-op
        // messages, well under a second on an idle machine, several on a loaded one) must get through while the
        // failed message waits.
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(
                concurrency: 1,
                maxAttempts: 2,
                minimumDelay: .seconds(20),
                initialDelay: .seconds(20)
            )
        ) { message in
            await log.started(message)
            await log.ended()
            if message.id == "slow-retry" && message.attempt == 1 { throw HandlerFailure("try later") }
            await log.succeeded(message)
        }
        try await queue.publish(OutgoingMessage(id: "slow-retry", type: "t", payload: ""), to: "orders")
        for index in 0..<20 {
            try await queue.publish(OutgoingMessage(id: "other-\(index)", type: "t", payload: ""), to: "orders")
        }
        try await QueueTest.eventually("everything is handled", timeout: .seconds(90)) { await log.handledCount == 21 }
        let handled = await log.handled
        #expect(handled.last == "slow-retry")
        #expect(Set(handled.prefix(20)) == Set((0..<20).map { "other-\($0)" }))
        await consumer.stop()
    }
}

/// A flag a test flips while handlers read it.
final class ManagedFlag: Sendable {
    private let storage = Mutex(false)
    var value: Bool { self.storage.withLock { $0 } }
    func set() { self.storage.withLock { $0 = true } }
}
