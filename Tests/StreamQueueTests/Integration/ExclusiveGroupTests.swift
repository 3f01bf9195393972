import Foundation
import NIOCore
import RedisClient
import StreamQueue
import Synchronization
import Testing

/// Per key, the sequence numbers whose handler completed, and who completed them.
private actor OrderLog {
    var sequences: [String: [Int]] = [:]
    var byConsumer: [String: Int] = [:]

    func completed(_ key: String, sequence: Int, by consumer: String) {
        self.sequences[key, default: []].append(sequence)
        self.byConsumer[consumer, default: 0] += 1
    }

    var total: Int { self.sequences.values.reduce(0) { $0 + $1.count } }
}

@Suite struct ExclusiveGroupTests {
    private static func configuration() -> QueueConsumerConfiguration {
        var configuration = QueueTest.configuration(concurrency: 4, visibilityTimeout: .seconds(1))
        configuration.ordering = .perKey
        configuration.exclusive = true
        // Long enough that a loaded test machine does not hand the group over by itself: the takeover this test wants
        // comes from the kill. 3 s was not: in a full clean-clone run the first consumer never reached alice-10 in
        // 60 s, probably because a stall longer than the lease handed the group to the standby, which never crashes.
        configuration.exclusiveLease = .seconds(10)
        configuration.heartbeatInterval = .milliseconds(250)
        configuration.reclaimInterval = .milliseconds(100)
        return configuration
    }

    @Test func aStandbyTakesOverAndPerKeyOrderHoldsAcrossInstances() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = OrderLog()
        let crashed = ManagedFlag()
        let handler: @Sendable (String) -> QueueConsumer.Handler = { consumer in
            { message in
                let key = try #require(message.key)
                let sequence = Int(message.payloadString)!
                if consumer == "first" && message.id == "alice-10" {
                    crashed.set()
                    try await Task.sleep(for: .seconds(3600))  // the instance dies in the middle of this one
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...2)))
                await log.completed(key, sequence: sequence, by: consumer)
            }
        }
        let first = RunningConsumer.start(
            prefix: prefix,
            topic: "accounts",
            group: "ledger",
            configuration: Self.configuration(),
            handler: handler("first")
        )
        let leaseKey = "\(prefix){accounts}:active:ledger"
        try await QueueTest.eventually("the first consumer is active") {
            try await client.get(leaseKey) == first.consumer.name
        }
        let second = RunningConsumer.start(
            prefix: prefix,
            topic: "accounts",
            group: "ledger",
            configuration: Self.configuration(),
            handler: handler("second")
        )
        let keys = ["alice", "bob", "carol"]
        var messages: [OutgoingMessage] = []
        for sequence in 0..<30 {
            for key in keys {
                messages.append(OutgoingMessage(id: "\(key)-\(sequence)", type: "t", payload: "\(sequence)", key: key))
            }
        }
        _ = try await queue.publish(messages, to: "accounts")
        try await QueueTest.eventually("the first consumer reached alice-10") { crashed.value }
        // The standby has done nothing while the first was active.
        #expect(await log.byConsumer["second"] == nil)
        await first.kill()

        try await QueueTest.eventually("every message is handled") {
            let sequences = await log.sequences
            return keys.allSatisfy { Set(sequences[$0] ?? []).count == 30 }
        }
        #expect(try await client.get(leaseKey) == second.consumer.name)
        #expect((await log.byConsumer["second"] ?? 0) > 0)
        for key in keys {
            let sequence = await log.sequences[key] ?? []
            // At least once: a message whose acknowledgement died with the first instance may be handled again
            // right away, but nothing ever goes backwards.
            #expect(zip(sequence, sequence.dropFirst()).allSatisfy { $0 <= $1 }, "order of \(key): \(sequence)")
            #expect(Set(sequence) == Set(0..<30))
        }
        await second.stop()
    }

    @Test func aCleanStopHandsTheGroupToTheStandby() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        var configuration = Self.configuration()
        configuration.exclusiveLease = .seconds(30)  // a takeover can only come from the release
        let first = RunningConsumer.start(
            prefix: prefix,
            topic: "accounts",
            group: "ledger",
            configuration: configuration
        ) { await log.succeeded($0, by: "first") }
        let leaseKey = "\(prefix){accounts}:active:ledger"
        try await QueueTest.eventually("the first consumer is active") {
            try await client.get(leaseKey) == first.consumer.name
        }
        let second = RunningConsumer.start(
            prefix: prefix,
            topic: "accounts",
            group: "ledger",
            configuration: configuration
        ) { await log.succeeded($0, by: "second") }
        try await queue.publish(OutgoingMessage(id: "one", type: "t", payload: ""), to: "accounts")
        try await QueueTest.eventually("the first handled it") { await log.handledCount == 1 }
        await first.stop()
        try await QueueTest.eventually("the standby is active") {
            try await client.get(leaseKey) == second.consumer.name
        }
        try await queue.publish(OutgoingMessage(id: "two", type: "t", payload: ""), to: "accounts")
        try await QueueTest.eventually("the second handled the next one") { await log.handledCount == 2 }
        #expect(await log.consumers == ["one": "first", "two": "second"])
        await second.stop()
    }
}
