import Foundation
import NIOCore
import RedisClient
import StreamQueue
import Testing

@Suite struct PublishConsumeTests {
    @Test func aPublishedMessageIsHandledWithItsFieldsAndAcknowledged() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration()
        ) { message in
            await log.started(message)
            await log.succeeded(message)
            await log.ended()
        }
        let published = Date(timeIntervalSince1970: 1_700_000_000.123)
        let receipt = try await queue.publish(
            OutgoingMessage(
                id: "message-1",
                type: "order.placed",
                payload: #"{"order":42}"#,
                headers: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "a"],
                key: "order-42",
                publishedAt: published
            ),
            to: "orders"
        )
        #expect(!receipt.isDuplicate)
        #expect(receipt.messageID == "message-1")
        try await QueueTest.eventually("the message is handled") { await log.handledCount == 1 }
        let message = try #require(await log.messages["message-1"])
        #expect(message.type == "order.placed")
        #expect(message.payloadString == #"{"order":42}"#)
        #expect(message.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        #expect(
            message.headers == [
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "a",
            ]
        )
        #expect(message.key == "order-42")
        #expect(message.attempt == 1)
        #expect(message.deliveryCount == 1)
        #expect(message.entryID == receipt.entryID)
        #expect(message.topic == "orders")
        #expect(abs(message.publishedAt.timeIntervalSince(published)) < 0.002)
        #expect(try message.decodePayload(as: [String: Int].self) == ["order": 42])
        try await QueueTest.eventually("it is acknowledged") {
            try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 0
        }
        await consumer.stop()
    }

    @Test func severalConsumersOfOneGroupHandleEveryMessageExactlyOnce() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumers = (0..<3).map { index in
            RunningConsumer.start(
                prefix: prefix,
                topic: "orders",
                group: "billing",
                configuration: QueueTest.configuration(concurrency: 4)
            ) { message in
                await log.succeeded(message, by: "consumer-\(index)")
            }
        }
        let messages = (0..<300).map { OutgoingMessage(id: "m-\($0)", type: "order.placed", payload: "\($0)") }
        for chunk in stride(from: 0, to: messages.count, by: 50) {
            let results = try await queue.publish(Array(messages[chunk..<chunk + 50]), to: "orders")
            #expect(results.allSatisfy { (try? $0.get()) != nil })
        }
        try await QueueTest.eventually("all 300 are handled") { await log.handledCount >= 300 }
        try await Task.sleep(for: .milliseconds(200))  // room for a wrong duplicate to show up
        let handled = await log.handled
        #expect(handled.count == 300)
        #expect(Set(handled) == Set(messages.map(\.id)))
        // The work was shared: more than one consumer handled messages.
        #expect(Set(await log.consumers.values).count > 1)
        try await QueueTest.eventually("nothing is pending") {
            try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "billing") == 0
        }
        for consumer in consumers { await consumer.stop() }
    }

    @Test func everyGroupGetsEveryMessage() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let emails = HandlerLog()
        let billing = HandlerLog()
        let first = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration()
        ) { await emails.succeeded($0) }
        let second = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "billing",
            configuration: QueueTest.configuration()
        ) { await billing.succeeded($0) }
        for index in 0..<20 {
            try await queue.publish(OutgoingMessage(id: "m-\(index)", type: "t", payload: ""), to: "orders")
        }
        try await QueueTest.eventually("both groups handled all") {
            let handled = (await emails.handledCount, await billing.handledCount)
            return handled == (20, 20)
        }
        await first.stop()
        await second.stop()
    }

    @Test func publishingTheSameIdWithinTheWindowIsADuplicate() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let message = OutgoingMessage(id: "outbox-7", type: "order.placed", payload: "x")
        let first = try await queue.publish(message, to: "orders", deduplicationWindow: .seconds(60))
        let second = try await queue.publish(message, to: "orders", deduplicationWindow: .seconds(60))
        #expect(!first.isDuplicate)
        #expect(second.isDuplicate)
        #expect(second.entryID == first.entryID)
        let batch = try await queue.publish(
            [message, OutgoingMessage(id: "outbox-8", type: "order.placed", payload: "y")],
            to: "orders",
            deduplicationWindow: .seconds(60)
        )
        #expect(try batch[0].get().isDuplicate)
        #expect(try !batch[1].get().isDuplicate)
        #expect(try await client.xlen(queue.streamKey("orders")) == 2)
    }

    @Test func deduplicatedPublishingWorksAfterTheScriptCacheIsFlushed() async throws {
        // A server of its own: SCRIPT FLUSH on the shared one would disturb tests running beside this one.
        let server = try await PersistentRedisServer.start()
        let client = QueueTest.client(url: server.url)
        do {
            let queue = QueueTest.queue(client, prefix: QueueTest.prefix())
            let message = OutgoingMessage(id: "outbox-9", type: "order.placed", payload: "x")
            #expect(try await !queue.publish(message, to: "orders", deduplicationWindow: .seconds(60)).isDuplicate)
            // As after a restart: the script is gone; publishing loads it again, and still deduplicates.
            _ = try await client.send(RedisCommand("SCRIPT", "FLUSH"))
            #expect(try await queue.publish(message, to: "orders", deduplicationWindow: .seconds(60)).isDuplicate)
            let fresh = OutgoingMessage(id: "outbox-10", type: "order.placed", payload: "y")
            _ = try await client.send(RedisCommand("SCRIPT", "FLUSH"))
            #expect(try await !queue.publish(fresh, to: "orders", deduplicationWindow: .seconds(60)).isDuplicate)
            #expect(try await client.xlen(queue.streamKey("orders")) == 2)
        } catch {
            Issue.record(error)
        }
        await client.shutdown()
        await server.destroy()
    }

    @Test func invalidTopicsAndMessagesAreRefused() async throws {
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: QueueTest.prefix())
        await #expect(throws: StreamQueueError.self) {
            try await queue.publish(OutgoingMessage(type: "t", payload: ""), to: "bad{topic}")
        }
        await #expect(throws: StreamQueueError.self) {
            try await queue.publish(OutgoingMessage(type: "", payload: ""), to: "orders")
        }
        await #expect(throws: StreamQueueError.self) {
            try await queue.publish(OutgoingMessage(id: "", type: "t", payload: ""), to: "orders")
        }
    }

    @Test func trimmingKeepsTheStreamAroundTheRetention() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix, retention: .maxLength(200))
        for chunk in 0..<20 {
            let messages = (0..<100).map { OutgoingMessage(id: "m-\(chunk)-\($0)", type: "t", payload: "p") }
            _ = try await queue.publish(messages, to: "orders")
        }
        // Approximate trimming removes whole stream nodes (100 entries by default): never fewer than the
        // retention, and not much more.
        let length = try await client.xlen(queue.streamKey("orders"))
        #expect(length >= 200)
        #expect(length <= 400)
        // The newest message is always kept.
        let newest = try await client.xrange(queue.streamKey("orders"), from: "-", to: "+").last
        #expect(newest?.string("id") == "m-19-99")
    }

    @Test func ageRetentionDropsOldEntries() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix, retention: .maxAge(.seconds(60)))
        // Entries added with ids far in the past (as if published two hours ago) are trimmed by the next publish.
        let stream = queue.streamKey("orders")
        let old = Int64(Date().timeIntervalSince1970 * 1000) - 7_200_000
        for index in 0..<300 {
            _ = try await client.xadd(stream, fields: [("id", "old-\(index)")], id: "\(old + Int64(index))-0")
        }
        try await queue.publish(OutgoingMessage(id: "new", type: "t", payload: ""), to: "orders")
        let remaining = try await client.xrange(stream)
        #expect(remaining.last?.string("id") == "new")
        #expect(remaining.count < 301)
    }

    @Test func aMalformedEntryGoesToTheDeadLetters() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration()
        ) { await log.succeeded($0) }
        try await QueueTest.eventually("the group exists") {
            (try? await queue.stats(topic: "orders").groups.count) == 1
        }
        try await client.xadd(queue.streamKey("orders"), fields: [("something", "else")])
        try await queue.publish(OutgoingMessage(id: "good", type: "t", payload: ""), to: "orders")
        try await QueueTest.eventually("the good one is handled and the bad one dead") {
            let dead = try await queue.deadLetters(topic: "orders")
            return await log.handledCount == 1 && dead.count == 1
        }
        let dead = try #require(try await queue.deadLetters(topic: "orders").first)
        #expect(dead.reason == .malformed)
        #expect(dead.group == "emails")
        #expect(dead.message == nil)
        await consumer.stop()
    }
}
