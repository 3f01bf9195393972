import Foundation
import RedisClient
import StreamQueue
import Testing

/// Failures of the infrastructure are waited out; only the message's own failures use up attempts.
@Suite struct TransientFailureTests {
    private static func configuration() -> QueueConsumerConfiguration {
        var configuration = QueueTest.configuration(maxAttempts: 2)
        configuration.transientBackoff = RetryPolicy(
            maxAttempts: .max,
            initialDelay: .milliseconds(20),
            maximumDelay: .milliseconds(40),
            minimumDelay: .milliseconds(10)
        )
        return configuration
    }

    @Test func transientFailuresNeverUseUpAttemptsOrDeadLetter() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "points",
            configuration: Self.configuration()
        ) { message in
            await log.started(message)
            await log.ended()
            // Ten times the attempt limit: a dependency that stays down for a while.
            if await log.startCount(of: message.id) <= 20 {
                throw QueueTransientFailure(HandlerFailure("database unavailable"))
            }
            await log.succeeded(message)
        }
        try await queue.publish(OutgoingMessage(id: "patient", type: "t", payload: "p"), to: "orders")
        try await QueueTest.eventually("it succeeds after the outage") { await log.handledCount == 1 }
        // Every run was attempt 1: none of the transient failures counted.
        #expect(await log.attempts["patient"] == Array(repeating: 1, count: 21))
        #expect(try await queue.deadLetters(topic: "orders").isEmpty)
        try await QueueTest.eventually("it is acknowledged") {
            try await queue.stats(topic: "orders").groups.first?.pending == 0
        }
        await consumer.stop()
    }

    @Test func redisUnavailabilityIsTransientAndOtherErrorsAreTheMessages() {
        #expect(QueueFailureKind.classify(RedisError(.connectionClosed, "gone")) == .transient)
        #expect(QueueFailureKind.classify(RedisError(.server, "LOADING Redis is loading")) == .transient)
        #expect(QueueFailureKind.classify(RedisError(.server, "WRONGTYPE Operation against a key")) == .message)
        #expect(QueueFailureKind.classify(QueueTransientFailure(HandlerFailure("x"))) == .transient)
        #expect(QueueFailureKind.classify(HandlerFailure("undecodable")) == .message)
    }

    @Test func aMessageFailureAfterTransientOnesStillCountsItsAttempts() async throws {
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "points",
            configuration: Self.configuration()
        ) { message in
            await log.started(message)
            await log.ended()
            if await log.startCount(of: message.id) % 3 != 0 {
                throw QueueTransientFailure(HandlerFailure("lock busy"))
            }
            throw HandlerFailure("refused by a rule")
        }
        try await queue.publish(OutgoingMessage(id: "doomed", type: "t", payload: "p"), to: "orders")
        try await QueueTest.eventually("it is dead-lettered after its two attempts") {
            try await queue.deadLetters(topic: "orders").count == 1
        }
        // Attempt 1: two transient failures, then its own; attempt 2 the same. Six runs, two attempts.
        #expect(await log.attempts["doomed"] == [1, 1, 1, 2, 2, 2])
        let dead = try #require(try await queue.deadLetters(topic: "orders").first)
        #expect(dead.error == "refused by a rule")
        await consumer.stop()
    }
}
