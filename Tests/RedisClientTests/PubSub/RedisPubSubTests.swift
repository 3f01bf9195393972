import NIOCore
import Testing

@testable import RedisClient

@Suite struct RedisPubSubTests {
    private func numsub(_ client: RedisClient, _ channel: String) async throws -> Int {
        let reply = try await client.send(RedisCommand("PUBSUB", "NUMSUB", channel)).decode(as: [RESPValue].self)
        return try reply[1].decode(as: Int.self)
    }

    private func message(_ channel: String, _ payload: String, pattern: String? = nil) -> RedisSubscriptionEvent {
        .message(RedisPubSubMessage(channel: channel, pattern: pattern, payload: ByteBuffer(string: payload)))
    }

    @Test(
        .disabled(
            if: TestRedis.isCluster,
            "on a cluster, PUBLISH and PUBSUB NUMSUB count only the subscribers of the node asked"
        )
    )
    func receivesWhatAnotherClientPublishes() async throws {
        let channel = TestRedis.prefix() + "ch"
        try await TestRedis.withClient { subscriberClient in
            try await TestRedis.withClient { publisher in
                try await subscriberClient.subscribe(to: [channel]) { subscription throws in
                    var events = subscription.makeAsyncIterator()
                    #expect(try await publisher.publish("hello", to: channel) == 1)
                    #expect(try await publisher.publish(ByteBuffer(bytes: [0, 255]), to: channel) == 1)
                    #expect(try await events.next() == self.message(channel, "hello"))
                    #expect(
                        try await events.next()
                            == .message(
                                RedisPubSubMessage(
                                    channel: channel,
                                    pattern: nil,
                                    payload: ByteBuffer(bytes: [0, 255])
                                )
                            )
                    )
                }
                #expect(try await self.numsub(publisher, channel) == 0)
            }
        }
    }

    @Test func patternSubscriptionsCarryThePattern() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.subscribe(toPatterns: [prefix + "news.*"]) { subscription in
                var events = subscription.makeAsyncIterator()
                try await client.publish("a", to: prefix + "news.sport")
                try await client.publish("b", to: prefix + "weather")
                try await client.publish("c", to: prefix + "news.tech")
                #expect(try await events.next() == self.message(prefix + "news.sport", "a", pattern: prefix + "news.*"))
                #expect(try await events.next() == self.message(prefix + "news.tech", "c", pattern: prefix + "news.*"))
            }
        }
    }

    /// Two subscriptions to one channel share the single subscriber connection: the server sees one subscriber,
    /// both receive every message, and the channel stays subscribed until the last one ends.
    @Test(
        .disabled(
            if: TestRedis.isCluster,
            "on a cluster, PUBLISH and PUBSUB NUMSUB count only the subscribers of the node asked"
        )
    )
    func subscriptionsShareOneConnectionAndAreReferenceCounted() async throws {
        let channel = TestRedis.prefix() + "shared"
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { observer in
                let (firstEnded, endFirst) = AsyncStream<Void>.makeStream()
                let (innerStarted, markInnerStarted) = AsyncStream<Void>.makeStream()
                try await client.subscribe(to: [channel]) { outer in
                    var outerEvents = outer.makeAsyncIterator()
                    let inner = Task {
                        try await client.subscribe(to: [channel]) { inner in
                            markInnerStarted.yield()
                            var innerEvents = inner.makeAsyncIterator()
                            let first = try await innerEvents.next()
                            var wait = firstEnded.makeAsyncIterator()
                            await wait.next()
                            return first
                        }
                    }
                    // Once the inner subscription is active (its scope started), publish once.
                    var started = innerStarted.makeAsyncIterator()
                    await started.next()
                    #expect(try await self.numsub(observer, channel) == 1)
                    #expect(try await observer.publish("both", to: channel) == 1)
                    #expect(try await outerEvents.next() == self.message(channel, "both"))
                    endFirst.yield()
                    #expect(try await inner.value == self.message(channel, "both"))
                    // The inner scope ended; the outer one still holds the channel.
                    #expect(try await self.numsub(observer, channel) == 1)
                    try await observer.publish("still", to: channel)
                    #expect(try await outerEvents.next() == self.message(channel, "still"))
                }
                #expect(try await self.numsub(observer, channel) == 0)
            }
        }
    }

    /// A consumer that stops reading cannot grow memory: the buffer drops messages and reports how many.
    @Test func slowConsumerGetsAnOverflowGap() async throws {
        let channel = TestRedis.prefix() + "slow"
        try await TestRedis.withClient { client in
            try await client.subscribe(to: [channel], bufferSize: 2) { slow in
                // A second, roomy subscription tells us when every message has been delivered to both.
                try await client.subscribe(to: [channel], bufferSize: 100) { fast in
                    for index in 1...10 { try await client.publish("m\(index)", to: channel) }
                    var seen = 0
                    for try await event in fast where seen < 10 {
                        if case .message = event { seen += 1 }
                        if seen == 10 { break }
                    }
                    var slowEvents = slow.makeAsyncIterator()
                    #expect(try await slowEvents.next() == self.message(channel, "m1"))
                    #expect(try await slowEvents.next() == self.message(channel, "m2"))
                    try await client.publish("m11", to: channel)
                    #expect(
                        try await slowEvents.next() == .gap(RedisSubscriptionGap(reason: .bufferOverflow(dropped: 8)))
                    )
                    #expect(try await slowEvents.next() == self.message(channel, "m11"))
                }
            }
        }
    }

    /// Subscribe and unsubscribe racing on the same channel from many tasks: the server's subscription always
    /// matches whether a local subscription is active.
    @Test(
        .disabled(
            if: TestRedis.isCluster,
            "on a cluster, PUBLISH and PUBSUB NUMSUB count only the subscribers of the node asked"
        )
    )
    func concurrentSubscribeAndUnsubscribeStayConsistent() async throws {
        let channel = TestRedis.prefix() + "race"
        try await TestRedis.withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        for _ in 0..<10 {
                            try await client.subscribe(to: [channel]) { _ in }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await TestRedis.withClient { observer in
                #expect(try await self.numsub(observer, channel) == 0)
                try await client.subscribe(to: [channel]) { subscription in
                    #expect(try await self.numsub(observer, channel) == 1)
                    try await observer.publish("after-race", to: channel)
                    var events = subscription.makeAsyncIterator()
                    #expect(try await events.next() == self.message(channel, "after-race"))
                }
            }
        }
    }

    @Test func shutdownEndsSubscriptionsWithAnError() async throws {
        let channel = TestRedis.prefix() + "bye"
        let client = RedisClient(configuration: TestRedis.configuration)
        let (subscribed, markSubscribed) = AsyncStream<Void>.makeStream()
        let consumer = Task {
            try await client.subscribe(to: [channel]) { subscription in
                markSubscribed.yield()
                for try await _ in subscription {}
            }
        }
        var wait = subscribed.makeAsyncIterator()
        await wait.next()
        await client.shutdown()
        do {
            try await consumer.value
            Issue.record("iteration should throw on shutdown")
        } catch let error as RedisError {
            #expect(error.code == .shutdown)
        }
        await #expect(throws: RedisError.self) { try await client.get("x") }
    }
}
