import Foundation
import NIOCore
import Testing

@testable import RedisClient

/// The subscriber connection under the faults networks have, through a ``FaultProxy`` in front of a private
/// `redis-server`: partitions, resets at the worst moment, reconnect storms and ACL changes.
@Suite struct SubscriberFaultTests {
    /// Subscribes in the background and records every event until the task is cancelled.
    private func listen(_ client: RedisClient, to channel: String, into recorder: EventRecorder) -> Task<
        Void, any Error
    > {
        Task {
            try await client.subscribe(to: [channel]) { subscription in
                recorder.markSubscribed()
                for try await event in subscription { recorder.record(event) }
            }
        }
    }

    @Test func aPartitionedSubscriberIsDetectedReplacedAndReportedAsAGap() async throws {
        try await ProxiedServer.with { proxied in
            // The health check runs every 300 ms and a PING must answer within 1 s (the command timeout).
            let configuration = try proxied.configuration { $0.keepAliveInterval = .milliseconds(300) }
            try await TestRedis.withClient(configuration) { client in
                let recorder = EventRecorder()
                let listening = self.listen(client, to: "news", into: recorder)
                defer { listening.cancel() }
                #expect(try await waitUntil { recorder.isSubscribed })
                try await proxied.publish("before", to: "news")
                #expect(try await waitUntil { recorder.payloads == ["before"] })

                // A partition: nothing passes either way and nothing closes. TCP alone would notice in hours.
                await proxied.proxy.setFault(.blackholeBoth)
                let detected = try await waitUntil(within: .seconds(15)) { proxied.proxy.closedByClientCount >= 1 }
                #expect(detected, "the client must give up on a subscriber connection that stopped answering")
                #expect(recorder.gaps.isEmpty, "the gap is reported once the subscription is active again")

                await proxied.proxy.setFault(.pass)
                #expect(try await waitUntil { recorder.gaps.contains(RedisSubscriptionGap(reason: .reconnected)) })
                #expect(try await waitUntil { (try? await proxied.subscriberCount("news")) == 1 })
                #expect(try await proxied.publish("after", to: "news") == 1)
                #expect(try await waitUntil { recorder.payloads == ["before", "after"] })
            }
        }
    }

    /// A reconnect whose new connection answers `HELLO` and then dies while resubscribing must leave exactly one
    /// subscribed connection: two reconnect loops would deliver every message twice and leak a connection.
    @Test func aConnectionLostWhileResubscribingLeavesOneSubscriberNotTwo() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration()
            try await TestRedis.withClient(configuration) { client in
                let recorder = EventRecorder()
                let listening = self.listen(client, to: "news", into: recorder)
                defer { listening.cancel() }
                #expect(try await waitUntil { recorder.isSubscribed })

                // The next connection passes exactly the HELLO the client sends and is reset on the SUBSCRIBE.
                var hello = RedisCommand("HELLO")
                hello.append("3")
                hello.append("SETNAME")
                hello.append(proxied.clientName)
                var helloBytes = ByteBuffer()
                hello.write(into: &helloBytes)
                await proxied.proxy.setFaultForNextConnection(.dropAfter(bytes: helloBytes.readableBytes, .toServer))
                await proxied.proxy.cutAll()

                #expect(try await waitUntil { recorder.gaps.contains(RedisSubscriptionGap(reason: .reconnected)) })
                #expect(proxied.proxy.acceptedCount >= 3, "the original, the one reset mid-resubscribe, the good one")
                #expect(try await waitUntil { (try? await proxied.subscriberCount("news")) == 1 })
                for index in 0..<5 { try await proxied.publish("m\(index)", to: "news") }
                #expect(try await waitUntil { recorder.payloads.count >= 5 })
                // Anything delivered twice would have arrived by now along with the rest.
                try await proxied.publish("last", to: "news")
                #expect(try await waitUntil { recorder.payloads.last == "last" })
                #expect(recorder.payloads == ["m0", "m1", "m2", "m3", "m4", "last"])
                #expect(try await proxied.subscriberCount("news") == 1)
                #expect(try await proxied.serverConnections().count == 1, "only the subscriber connection is open")
                #expect(proxied.proxy.openCount == 1)
            }
        }
    }

    /// After an ACL change the server refuses the resubscribe on a live connection: the subscriptions are told,
    /// and the client keeps retrying until the ACL allows the channel again.
    @Test func aResubscribeRefusedByTheServerIsReportedAndRetried() async throws {
        try await ProxiedServer.with { proxied in
            let created = try await proxied.server.cli([
                "ACL", "SETUSER", "listener", "on", ">listener-pass", "~*", "&allowed:*", "+@all",
            ])
            #expect(created.contains("OK"))
            let configuration = try proxied.configuration {
                $0.username = "listener"
                $0.password = "listener-pass"
            }
            try await TestRedis.withClient(configuration) { client in
                let recorder = EventRecorder()
                let listening = self.listen(client, to: "allowed:news", into: recorder)
                defer { listening.cancel() }
                #expect(try await waitUntil { recorder.isSubscribed })
                try await proxied.publish("before", to: "allowed:news")
                #expect(try await waitUntil { recorder.payloads == ["before"] })

                // Redis 7 disconnects a subscriber whose channel rights were taken away; the reconnect succeeds
                // (HELLO is allowed) but SUBSCRIBE is refused with NOPERM.
                try await proxied.server.cli(["ACL", "SETUSER", "listener", "resetchannels", "&other:*"])
                let reported = try await waitUntil(within: .seconds(10)) {
                    recorder.gaps.contains { gap in
                        if case .subscribeFailed(let message) = gap.reason { return message.hasPrefix("NOPERM") }
                        return false
                    }
                }
                #expect(reported, "a refused resubscribe must reach the subscription")

                try await proxied.server.cli(["ACL", "SETUSER", "listener", "resetchannels", "&allowed:*"])
                #expect(
                    try await waitUntil(within: .seconds(15)) {
                        recorder.gaps.contains(RedisSubscriptionGap(reason: .reconnected))
                    }
                )
                #expect(try await waitUntil { (try? await proxied.subscriberCount("allowed:news")) == 1 })
                try await proxied.publish("after", to: "allowed:news")
                #expect(try await waitUntil { recorder.payloads == ["before", "after"] })
            }
        }
    }

    /// Resets every 200 ms for 5 s while messages are published: each message arrives at most once, every
    /// interruption is reported, and no connection is left behind.
    @Test func aReconnectStormDeliversNothingTwiceAndLeaksNoConnection() async throws {
        try await ProxiedServer.with { proxied in
            let configuration = try proxied.configuration()
            try await TestRedis.withClient(configuration) { client in
                let recorder = EventRecorder()
                let listening = self.listen(client, to: "storm", into: recorder)
                defer { listening.cancel() }
                #expect(try await waitUntil { recorder.isSubscribed })

                let publishing = Task {
                    var sequence = 0
                    while !Task.isCancelled {
                        _ = try? await proxied.publish("s\(sequence)", to: "storm")
                        sequence += 1
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    return sequence
                }
                for _ in 0..<25 {
                    try await Task.sleep(for: .milliseconds(200))
                    await proxied.proxy.cutAll()
                }
                publishing.cancel()
                let published = await publishing.value

                #expect(try await waitUntil { (try? await proxied.subscriberCount("storm")) == 1 })
                try await proxied.publish("final", to: "storm")
                #expect(try await waitUntil { recorder.payloads.last == "final" })
                let payloads = recorder.payloads
                #expect(Set(payloads).count == payloads.count, "no message is delivered twice")
                #expect(payloads.count <= published + 1)
                #expect(!recorder.gaps.isEmpty)
                #expect(try await proxied.serverConnections().count == 1, "only the subscriber connection is open")
                #expect(proxied.proxy.openCount == 1)
            }
        }
    }
}
