import Foundation
import NIOCore
import RedisClient
import StreamQueue
import Synchronization
import Testing

/// Per key: the sequence numbers handled and whether two ran at once.
private actor KeyedLog {
    var sequences: [String: [Int]] = [:]
    var active: Set<String> = []
    var overlaps = 0
    var handled = 0

    func begin(_ key: String) {
        if !self.active.insert(key).inserted { self.overlaps += 1 }
    }

    func end(_ key: String, sequence: Int) {
        self.active.remove(key)
        self.sequences[key, default: []].append(sequence)
        self.handled += 1
    }
}

@Suite struct OrderingAndStatsTests {
    @Test func messagesWithOneKeyAreHandledOneAtATimeInOrder() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = KeyedLog()
        let failedOnce = Mutex<Set<String>>([])
        var configuration = QueueTest.configuration(concurrency: 8, maxAttempts: 3, minimumDelay: .milliseconds(20))
        configuration.ordering = .perKey
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "accounts",
            group: "ledger",
            configuration: configuration
        ) { message in
            let key = try #require(message.key)
            let sequence = Int(message.payloadString)!
            await log.begin(key)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
            // Every seventh message fails once: it is retried in place, ahead of the rest of its key.
            if sequence % 7 == 3, failedOnce.withLock({ $0.insert(message.id).inserted }) {
                await log.end(key, sequence: -1)
                throw HandlerFailure("transient")
            }
            await log.end(key, sequence: sequence)
        }
        let keys = ["alice", "bob", "carol"]
        var messages: [OutgoingMessage] = []
        for sequence in 0..<30 {
            for key in keys {
                messages.append(OutgoingMessage(id: "\(key)-\(sequence)", type: "t", payload: "\(sequence)", key: key))
            }
        }
        _ = try await queue.publish(messages, to: "accounts")
        try await QueueTest.eventually("all handled") {
            await log.sequences.values.map { $0.filter { $0 >= 0 }.count }.reduce(0, +) == 90
        }
        #expect(await log.overlaps == 0)
        for key in keys {
            let handled = await log.sequences[key]?.filter { $0 >= 0 }
            #expect(handled == Array(0..<30), "order of \(key)")
        }
        await consumer.stop()
    }

    @Test func theConcurrencyLimitIsRespected() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(concurrency: 3)
        ) { message in
            await log.started(message)
            try await Task.sleep(for: .milliseconds(20))
            await log.ended()
            await log.succeeded(message)
        }
        _ = try await queue.publish(
            (0..<40).map { OutgoingMessage(id: "m-\($0)", type: "t", payload: "") },
            to: "orders"
        )
        try await QueueTest.eventually("all handled") { await log.handledCount == 40 }
        let maxRunning = await log.maxRunning
        #expect(maxRunning <= 3)
        #expect(maxRunning >= 2)
        await consumer.stop()
    }

    @Test func statsReportLengthGroupsLagPendingDelayedAndDeadLetters() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let empty = try await queue.stats(topic: "orders")
        #expect(empty.length == 0 && empty.groups.isEmpty && empty.delayed == 0 && empty.deadLetters == 0)
        try await queue.createGroup(topic: "orders", group: "reader")
        _ = try await queue.publish(
            (0..<10).map { OutgoingMessage(id: "m-\($0)", type: "t", payload: "") },
            to: "orders"
        )
        // "reader" has four messages delivered and not acknowledged.
        _ = try await client.xreadgroup(
            group: "reader",
            consumer: "manual",
            streams: [(queue.streamKey("orders"), ">")],
            count: 4
        )
        // "later" fails everything once, with retries due in a minute; "dead" gives up at once.
        let later = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "later",
            configuration: QueueTest.configuration(
                maxAttempts: 2,
                minimumDelay: .seconds(60),
                initialDelay: .seconds(60)
            )
        ) { _ in throw HandlerFailure("later") }
        let dead = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "dead",
            configuration: QueueTest.configuration(maxAttempts: 1)
        ) { _ in throw HandlerFailure("dead") }
        try await QueueTest.eventually("ten delayed and ten dead") {
            let stats = try await queue.stats(topic: "orders")
            return stats.delayed == 10 && stats.deadLetters == 10
        }
        let stats = try await queue.stats(topic: "orders")
        #expect(stats.length == 10)
        #expect(stats.groups.map(\.name) == ["dead", "later", "reader"])
        let byName = Dictionary(uniqueKeysWithValues: stats.groups.map { ($0.name, $0) })
        #expect(byName["reader"]?.pending == 4)
        #expect(byName["reader"]?.lag == 6)
        #expect(byName["reader"]?.consumers == 1)
        #expect(byName["reader"]?.delayed == 0)
        #expect(byName["later"]?.pending == 0)
        #expect(byName["later"]?.lag == 0)
        #expect(byName["later"]?.delayed == 10)
        #expect(byName["dead"]?.pending == 0)
        #expect(byName["dead"]?.delayed == 0)
        #expect(stats.deadLetters == 10)
        #expect(stats.delayed == 10)
        await later.stop()
        await dead.stop()
    }

    @Test func processedMarkersMakeRedisEffectsHappenOnce() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let processed = RedisProcessedMessages(queue: queue, consumer: "points")
        let message = QueueMessage(id: "order-1", type: "order.placed", payload: ByteBuffer(), topic: "orders")
        let points = "\(prefix){orders}:points"
        #expect(try await processed.isProcessed(message) == false)
        #expect(try await processed.applyOnce(message, [["HINCRBY", points, "alice", "10"]]))
        #expect(try await processed.applyOnce(message, [["HINCRBY", points, "alice", "10"]]) == false)
        #expect(try await processed.isProcessed(message))
        #expect(try await client.send(RedisCommand("HGET", key: points, "alice")).decode(as: Int.self) == 10)
        #expect(processed.markerKey(for: message).hasPrefix("\(prefix){orders}:"))
    }

    @Test func aFailedEffectLeavesNoMarkerSoTheRetryAppliesIt() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let processed = RedisProcessedMessages(queue: queue, consumer: "points", retention: nil)
        let message = QueueMessage(id: "order-2", type: "order.placed", payload: ByteBuffer(), topic: "orders")
        let counter = "\(prefix){orders}:count"
        let wrong = "\(prefix){orders}:wrong"
        _ = try await client.send(RedisCommand("SET", key: wrong, "a string"))
        await #expect(throws: RedisError.self) {
            try await processed.applyOnce(message, [["INCR", counter], ["HINCRBY", wrong, "f", "1"]])
        }
        // The failure left no marker: the message is not "processed", and its retry applies the effects.
        #expect(try await processed.isProcessed(message) == false)
        _ = try await client.send(RedisCommand("DEL", key: wrong))
        #expect(try await processed.applyOnce(message, [["HINCRBY", wrong, "f", "1"]]))
        #expect(try await processed.isProcessed(message))
        // Kept forever (no retention): a dead letter replayed at any age still finds it.
        #expect(
            try await client.send(RedisCommand("PTTL", key: processed.markerKey(for: message))).decode(as: Int.self)
                == -1
        )
    }
}
