import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RedisSessions
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A stream's slot is given back whatever way the stream ends: its client leaves before the response head, its
/// session ends (announced or found expired); and an ended stream writes nothing more (docs/security.md,
/// "Sessions and open streams").
@Suite("Notification stream slots")
struct StreamSlotTests {
    /// Sends a stream request on a raw connection and resets it at once, without reading anything.
    static func abandon(port: Int, cookie: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .get()
        let request =
            "GET /api/v1/notifications/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Cookie: \(sessionCookieName)=\(cookie)\r\nAccept: text/event-stream\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        // Reset, not a half-close (the server allows those): a client that is gone.
        let options = try #require(channel as? any SocketOptionProvider)
        try await options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await channel.close().get()
    }

    @Test func clientsThatLeaveBeforeTheResponseHeadGiveTheirSlotsBack() async throws {
        try await withOrderInstances(
            count: 1,
            configure: StreamRevocationTests.tweak(heartbeat: .seconds(1)) {
                $0.notifications.maxStreamsPerUser = 3
            }
        ) { shop in
            let user = try await shop.signIn("thief@slots.test")
            let port = shop.ports[0]
            // A stolen session's holder opens streams and drops each socket before the response head: rounds
            // of them, each more than the cap's worth.
            for _ in 0..<4 {
                for _ in 0..<6 { try await Self.abandon(port: port, cookie: user) }
            }
            // The owner can still open the cap's worth: slots held by clients that left come back (those whose
            // head was written at their next heartbeat, the others at once). Polled with a bound; never slept.
            var open: [SSEStream] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while open.count < 3, ContinuousClock.now < deadline {
                let stream = try await SSEStream.open(shop.http, port: port, cookie: user)
                if stream.status == 200 {
                    open.append(stream)
                } else {
                    #expect(stream.status == 429)
                    await stream.close()
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(open.count == 3, "the user can open the cap's worth of streams again")
            for stream in open { await stream.close() }
        }
    }

    @Test func anEndedSessionsStreamsGiveTheirSlotsBackAtOnce() async throws {
        let hub = NotificationHub(capacity: 4, maxStreams: 10, maxStreamsPerUser: 2)
        let user = UUID()
        let announced = try #require(hub.open(user: user, session: "a"))
        let expired = try #require(hub.open(user: user, session: "b"))
        #expect(hub.open(user: user, session: "c") == nil)
        // Announced: the slot is free before the stream's handler closes it (it may never run).
        #expect(hub.endSessions(["a"]) == 1)
        #expect(announced.ended)
        #expect(hub.openStreams(of: user) == 1)
        // Found expired at a heartbeat.
        hub.sessionEnded(expired.id)
        #expect(expired.ended)
        #expect(hub.openStreams(of: user) == 0)
        #expect(hub.openStreams == 0)
        #expect(hub.sessionEndedStreams == 2)
        // Two fresh ones fit again; closing an ended stream later does nothing.
        let first = try #require(hub.open(user: user, session: "c"))
        _ = try #require(hub.open(user: user, session: "c"))
        hub.close(announced.id)
        hub.close(expired.id)
        #expect(hub.openStreams(of: user) == 2)
        #expect(!first.ended)
    }

    @Test func aStreamLeaseGivesTheSlotBackWhenDroppedUnused() throws {
        let hub = NotificationHub(capacity: 4, maxStreams: 10, maxStreamsPerUser: 1)
        let user = UUID()
        do {
            let stream = try #require(hub.open(user: user, session: "a"))
            let lease = NotificationHub.Lease(hub: hub, id: stream.id)
            // What Hummingbird holds: a body closure that captured the lease and is never called.
            let body = ResponseBody { writer in
                _ = lease
                try await writer.finish(nil)
            }
            _ = body
            #expect(hub.openStreams(of: user) == 1)
        }
        #expect(hub.openStreams(of: user) == 0)
    }

    /// Collects what a stream writes.
    struct CollectingWriter: ResponseBodyWriter {
        final class Written: Sendable {
            let parts = Mutex<[String]>([])
        }
        let written: Written
        mutating func write(_ buffer: ByteBuffer) async throws {
            self.written.parts.withLock { $0.append(String(buffer: buffer)) }
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test func aStreamWhoseSessionEndedWritesNothingBuffered() async throws {
        let hub = NotificationHub(capacity: 16, maxStreams: 10)
        let user = UUID()
        let stream = try #require(hub.open(user: user, session: "gone"))
        let live = try #require(hub.open(user: user, session: "live"))
        // Three notifications wait in both buffers, then one session ends before its handler reads them.
        for id in 1...3 { hub.deliver(NotificationHubTests.notification(Int64(id)), to: user) }
        hub.endSessions(["gone"])
        live.continuation.finish()
        // Never used: the events are in order, no catch-up reads the inbox.
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", port: 1, username: "-", password: nil, database: nil, tls: .disable)
        )
        let repository = NotificationRepository(client: Database(client: client), logger: Logger(label: "test"))
        for (subject, expected) in [(stream, 0), (live, 3)] {
            let written = CollectingWriter.Written()
            var writer: any ResponseBodyWriter = CollectingWriter(written: written)
            var sender = StreamSender(user: user, lastSent: 0, repository: repository, ended: subject.flag)
            try await NotificationsController.pump(subject, sender: &sender, writer: &writer)
            #expect(written.parts.withLock { $0.count } == expected)
        }
    }
}
