import Foundation
import NIOCore
import RedisClient
import StreamQueue
import Testing

@Suite struct RecoveryTests {
    /// Short visibility timeout, frequent heartbeats and reclaims.
    private static func fastRecovery(
        maxDeliveries: Int = 5,
        visibilityTimeout: Duration = .milliseconds(500)
    ) -> QueueConsumerConfiguration {
        var configuration = QueueTest.configuration(visibilityTimeout: visibilityTimeout)
        configuration.heartbeatInterval = .milliseconds(100)
        configuration.reclaimInterval = .milliseconds(100)
        configuration.maxDeliveries = maxDeliveries
        return configuration
    }

    @Test func aMessageLeftPendingByADeadConsumerIsTakenOverAfterTheVisibilityTimeout() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let doomed = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: Self.fastRecovery()
        ) { message in
            await log.started(message)
            try await Task.sleep(for: .seconds(3600))  // hangs until the instance dies
        }
        try await queue.publish(OutgoingMessage(id: "orphan", type: "t", payload: ""), to: "orders")
        try await QueueTest.eventually("the first consumer started on it") { await log.startCount(of: "orphan") == 1 }
        await doomed.kill()
        #expect(try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 1)

        let survivor = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: Self.fastRecovery()
        ) { message in
            await log.succeeded(message, by: "survivor")
        }
        try await QueueTest.eventually("the survivor handled it") { await log.handledCount == 1 }
        let message = try #require(await log.messages["orphan"])
        #expect(message.deliveryCount == 2)
        #expect(message.attempt == 1)
        try await QueueTest.eventually("it is acknowledged") {
            try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 0
        }
        await survivor.stop()
    }

    @Test func aMessageThatKeepsKillingConsumersEndsInTheDeadLetters() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        try await queue.createGroup(topic: "orders", group: "emails")
        try await queue.publish(OutgoingMessage(id: "poison", type: "t", payload: ""), to: "orders")
        // Two deliveries allowed; each consumer that gets the poison message "crashes" (is killed).
        for round in 1...2 {
            let victim = RunningConsumer.start(
                prefix: prefix,
                topic: "orders",
                group: "emails",
                configuration: Self.fastRecovery(maxDeliveries: 2)
            ) { message in
                await log.started(message)
                try await Task.sleep(for: .seconds(3600))
            }
            try await QueueTest.eventually("consumer \(round) got the poison message") {
                await log.startCount(of: "poison") == round
            }
            await victim.kill()
        }
        let last = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: Self.fastRecovery(maxDeliveries: 2)
        ) { message in
            await log.started(message)
            try await Task.sleep(for: .seconds(3600))
        }
        try await QueueTest.eventually("the poison message is dead-lettered") {
            try await queue.deadLetters(topic: "orders").count == 1
        }
        let dead = try #require(try await queue.deadLetters(topic: "orders").first)
        #expect(dead.reason == .deliveryLimit)
        #expect(dead.error == "delivery limit exceeded (consumer crashed or timed out)")
        #expect(dead.deliveries == 2)
        #expect(dead.message?.id == "poison")
        // The third consumer never ran it, and nothing is pending any more.
        #expect(await log.startCount(of: "poison") == 2)
        #expect(try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 0)
        // Its history: the second consumer took it over from the first; the third dead-lettered it.
        let history = try #require(try await queue.messageHistory(topic: "orders", messageID: "poison"))
        #expect(history.events.map(\.kind) == [.takenOver, .deadLettered])
        #expect(history.events[0].deliveries == 2)
        #expect(history.events[0].previousConsumer != nil)
        #expect(history.events[0].previousConsumer != history.events[0].consumer)
        #expect(history.events[1].reason == .deliveryLimit)
        #expect(history.events[1].consumer == history.events[0].consumer)
        #expect(history.events[1].deadLetterID == dead.id)
        await last.stop()
    }

    @Test func aLiveHandlerRunningPastTheVisibilityTimeoutIsNotTakenOver() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        // Only the heartbeat (every 100 ms) protects the message (this consumer's own reclaim pass, which also
        // renews what it holds, is too rare to matter here). A 3 s visibility timeout leaves room for stalls of a
        // busy machine (a full CI run, every suite in parallel, stalled a 1 s one).
        var heartbeatOnly = Self.fastRecovery(visibilityTimeout: .seconds(3))
        heartbeatOnly.reclaimInterval = .seconds(60)
        let slow = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: heartbeatOnly
        ) { message in
            await log.started(message)
            try await Task.sleep(for: .milliseconds(7500))  // two and a half visibility timeouts
            await log.succeeded(message, by: "slow")
        }
        try await queue.publish(OutgoingMessage(id: "long", type: "t", payload: ""), to: "orders")
        try await QueueTest.eventually("the slow consumer started") { await log.startCount(of: "long") == 1 }
        // Another live consumer of the group keeps looking for abandoned messages all along.
        let other = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: Self.fastRecovery(visibilityTimeout: .seconds(3))
        ) { message in
            await log.started(message)
            await log.succeeded(message, by: "other")
        }
        try await QueueTest.eventually("the slow handler finished") { await log.handledCount >= 1 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(await log.startCount(of: "long") == 1)
        #expect(await log.consumers["long"] == "slow")
        #expect(await log.messages["long"]?.deliveryCount == 1)
        await slow.stop()
        await other.stop()
    }

    @Test func gracefulShutdownFinishesInFlightWorkAndNeverAcknowledgesUnfinishedWork() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let cancelled = ManagedFlag()
        var configuration = QueueTest.configuration(concurrency: 2)
        configuration.shutdownGracePeriod = .milliseconds(700)
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: configuration
        ) { message in
            await log.started(message)
            if message.id == "quick" {
                try await Task.sleep(for: .milliseconds(300))
            } else {
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.set()
                    throw error
                }
            }
            await log.succeeded(message)
        }
        let quick = try await queue.publish(OutgoingMessage(id: "quick", type: "t", payload: ""), to: "orders")
        let slow = try await queue.publish(OutgoingMessage(id: "slow", type: "t", payload: ""), to: "orders")
        try await QueueTest.eventually("both handlers run") {
            let started = (await log.startCount(of: "quick"), await log.startCount(of: "slow"))
            return started == (1, 1)
        }
        await consumer.stop()
        #expect(await log.handled == ["quick"])
        #expect(cancelled.value)
        let pending = try await client.xpending(queue.streamKey("orders"), group: "emails")
        #expect(pending.map(\.id) == [slow.entryID])
        #expect(!pending.map(\.id).contains(quick.entryID))
        // Not retried and not dead-lettered either: it waits for another consumer.
        let stats = try await queue.stats(topic: "orders")
        #expect(stats.delayed == 0)
        #expect(stats.deadLetters == 0)

        // The next consumer takes it over once the visibility timeout has passed.
        var next = Self.fastRecovery()
        next.concurrency = 2
        let successor = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: next
        ) { await log.succeeded($0) }
        try await QueueTest.eventually("the successor handled the unfinished message", timeout: .seconds(45)) {
            await log.handled.contains("slow")
        }
        await successor.stop()
    }

    @Test func messagesReadButNeverStartedAreHandedBackAtShutdown() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        // Per-key order: the second and third message of the key wait (read, never started) behind the first.
        var configuration = QueueTest.configuration(concurrency: 4)
        configuration.ordering = .perKey
        // m-0 runs until the test lets it finish, so it is surely in flight when the shutdown begins.
        let release = ManagedFlag()
        let first = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: configuration
        ) { message in
            await log.started(message)
            while !release.value { try await Task.sleep(for: .milliseconds(10)) }
            await log.succeeded(message, by: "first")
        }
        for index in 0..<3 {
            try await queue.publish(OutgoingMessage(id: "m-\(index)", type: "t", payload: "", key: "k"), to: "orders")
        }
        try await QueueTest.eventually("the first message runs") { await log.startCount(of: "m-0") == 1 }
        try await QueueTest.eventually("all three are read") {
            try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 3
        }
        await first.beginStopping()
        // Give the shutdown time to reach the consumer before m-0 finishes: no new message may start after it.
        try await Task.sleep(for: .milliseconds(500))
        release.set()
        await first.stop()
        #expect(await log.handled == ["m-0"])
        #expect(try await QueueTest.pendingCount(client, queue.streamKey("orders"), group: "emails") == 2)

        // The next consumer has a 30 s visibility timeout, yet takes the two over at once: they were handed back.
        let second = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: configuration
        ) { await log.succeeded($0, by: "second") }
        try await QueueTest.eventually("the second consumer handled both", timeout: .seconds(10)) {
            await log.handledCount == 3
        }
        #expect(await log.handled == ["m-0", "m-1", "m-2"])
        await second.stop()
    }

    @Test func nothingQueuedIsLostAcrossARedisRestartAndConsumersResume() async throws {
        let server = try await PersistentRedisServer.start()
        let prefix = QueueTest.prefix()
        let client = QueueTest.client(url: server.url)
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        do {
            try await queue.createGroup(topic: "orders", group: "emails")
            let first = (0..<30).map { OutgoingMessage(id: "before-\($0)", type: "t", payload: "\($0)") }
            let accepted = try await queue.publish(first, to: "orders")
            #expect(accepted.allSatisfy { (try? $0.get()) != nil })

            // Redis dies with everything queued (SIGKILL) and comes back from its append-only file.
            await server.kill()
            try await server.launch()
            var configuration = Self.fastRecovery()
            configuration.blockTimeout = .milliseconds(200)
            let consumer = RunningConsumer.start(
                prefix: prefix,
                topic: "orders",
                group: "emails",
                configuration: configuration,
                url: server.url
            ) { await log.succeeded($0) }
            try await QueueTest.eventually("everything queued before the crash is handled") {
                await log.handledCount >= 30
            }
            #expect(Set(await log.handled) == Set(first.map(\.id)))

            // Redis dies again under a running consumer; the consumer reconnects and goes on.
            await server.kill()
            try await server.launch()
            let second = (0..<10).map { OutgoingMessage(id: "after-\($0)", type: "t", payload: "\($0)") }
            try await QueueTest.eventually("publishing works again") {
                (try? await queue.publish(second, to: "orders").allSatisfy { (try? $0.get()) != nil }) == true
            }
            try await QueueTest.eventually("the consumer resumed") {
                Set(await log.handled).isSuperset(of: second.map(\.id))
            }
            await consumer.stop()
        } catch {
            await client.shutdown()
            await server.destroy()
            throw error
        }
        await client.shutdown()
        await server.destroy()
    }
}
