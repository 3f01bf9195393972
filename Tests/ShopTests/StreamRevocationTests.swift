import AsyncHTTPClient
import RedisClient
import RedisSessions
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Notification streams end with the session that opened them, on every instance (docs/security.md, "Sessions
/// and open streams"); a user has a bounded number of streams per instance.
@Suite("Notification streams end with their session")
struct StreamRevocationTests {
    /// The test's own channels; heartbeats so rare that only an announcement can close a stream (unless given).
    static func tweak(
        heartbeat: Duration = .seconds(3600),
        _ extra: @escaping @Sendable (inout ShopConfiguration) -> Void = { _ in }
    ) -> ConfigurationTweak {
        NotificationsTests.isolated { configuration in
            configuration.notifications.heartbeat = heartbeat
            extra(&configuration)
        }
    }

    /// Signs an existing user in once more on `instance`: another session (another device).
    static func login(_ shop: OrdersFixture, _ email: String, instance: Int = 0) async throws -> String {
        let response = try await shop.send(
            .POST,
            "/api/v1/auth/login",
            instance: instance,
            body: #"{"email":"\#(email)","password":"correct horse battery"}"#
        )
        #expect(response.status == 200, "\(response.body)")
        let cookie = response.headers["set-cookie"].first { $0.hasPrefix(sessionCookieName + "=") }
        return String(try #require(cookie).split(separator: ";")[0].dropFirst(sessionCookieName.count + 1))
    }

    /// Waits until every instance listens to the revocation channel (an announcement before that reaches nobody).
    static func waitForListeners(_ shop: OrdersFixture) async throws {
        let channel = shop.configuration.accounts.sessionRevocationChannel
        for _ in 0..<1500 {
            let reply = try await shop.redis.send(RedisCommand("PUBSUB", "NUMSUB", channel))
                .decode(as: [RESPValue].self)
            if try reply[1].decode(as: Int.self) >= shop.ports.count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the instances never subscribed to \(channel)")
    }

    static func open(_ shop: OrdersFixture, cookie: String, instance: Int) async throws -> SSEStream {
        let stream = try await SSEStream.open(shop.http, port: shop.ports[instance], cookie: cookie)
        #expect(stream.status == 200)
        return stream
    }

    /// A broadcast that `stream` must receive: proof that it is still open after another one ended.
    static func expectAlive(_ stream: SSEStream, _ shop: OrdersFixture, admin: String, events: Int) async throws {
        let reply = try await shop.send(
            .POST,
            "/api/v1/admin/notifications",
            cookie: admin,
            body: #"{"title":"still there?","body":""}"#
        )
        #expect(reply.status == 202)
        #expect(try await stream.waitForEvents(events).count == events)
        #expect(!stream.ended)
    }

    @Test func signingOutOnOneInstanceClosesTheSessionsStreamOnAnother() async throws {
        try await withOrderInstances(count: 2, configure: Self.tweak()) { shop in
            let admin = try await shop.signIn("admin@revoke.test", role: .admin)
            let laptop = try await shop.signIn("user@revoke.test")
            let phone = try await Self.login(shop, "user@revoke.test", instance: 1)
            try await Self.waitForListeners(shop)
            let laptopStream = try await Self.open(shop, cookie: laptop, instance: 1)
            let phoneStream = try await Self.open(shop, cookie: phone, instance: 1)
            defer { Task { await laptopStream.close() } }
            defer { Task { await phoneStream.close() } }

            let logout = try await shop.send(.POST, "/api/v1/auth/logout", instance: 0, cookie: laptop)
            #expect(logout.status == 204)
            #expect(await laptopStream.waitUntilEnded(), "the signed-out session's stream is closed")
            // The other session's stream is untouched.
            try await Self.expectAlive(phoneStream, shop, admin: admin, events: 1)
            // Reconnecting with the old cookie is refused.
            let again = try await SSEStream.open(shop.http, port: shop.ports[1], cookie: laptop)
            #expect(again.status == 401)
        }
    }

    @Test func endingOneSessionOrAllOthersFromAnotherDeviceClosesTheirStreams() async throws {
        try await withOrderInstances(count: 2, configure: Self.tweak()) { shop in
            let admin = try await shop.signIn("admin@devices.test", role: .admin)
            let laptop = try await shop.signIn("user@devices.test")
            let phone = try await Self.login(shop, "user@devices.test")
            let tablet = try await Self.login(shop, "user@devices.test", instance: 1)
            let watch = try await Self.login(shop, "user@devices.test", instance: 1)
            try await Self.waitForListeners(shop)
            let streams = [
                try await Self.open(shop, cookie: laptop, instance: 0),
                try await Self.open(shop, cookie: phone, instance: 1),
                try await Self.open(shop, cookie: tablet, instance: 0),
                try await Self.open(shop, cookie: watch, instance: 1),
            ]
            defer { Task { for stream in streams { await stream.close() } } }

            // The phone ends the laptop's session by its id (DELETE /api/v1/me/sessions/{id}) on instance 1.
            let laptopHandle = try #require(SessionID(cookieValue: laptop)).handle
            let one = try await shop.send(.DELETE, "/api/v1/me/sessions/\(laptopHandle)", instance: 1, cookie: phone)
            #expect(one.status == 204, "\(one.body)")
            #expect(await streams[0].waitUntilEnded())
            try await Self.expectAlive(streams[1], shop, admin: admin, events: 1)

            // The watch signs out everywhere else (DELETE /api/v1/me/sessions) on instance 0.
            let others = try await shop.send(.DELETE, "/api/v1/me/sessions", instance: 0, cookie: watch)
            #expect(others.body.contains(#""revoked":2"#), "\(others.body)")
            #expect(await streams[1].waitUntilEnded())
            #expect(await streams[2].waitUntilEnded())
            try await Self.expectAlive(streams[3], shop, admin: admin, events: 2)
        }
    }

    @Test func anAdminEndingOneOfAUsersSessionsClosesItsStreamOnAnotherInstance() async throws {
        try await withOrderInstances(count: 2, configure: Self.tweak()) { shop in
            let admin = try await shop.signIn("admin@ended.test", role: .admin)
            let laptop = try await shop.signIn("user@ended.test")
            let phone = try await Self.login(shop, "user@ended.test", instance: 1)
            let userID = try await JobsTests.userID(shop, email: "user@ended.test")
            try await Self.waitForListeners(shop)
            let laptopStream = try await Self.open(shop, cookie: laptop, instance: 1)
            let phoneStream = try await Self.open(shop, cookie: phone, instance: 1)
            defer { Task { await laptopStream.close() } }
            defer { Task { await phoneStream.close() } }

            // DELETE /api/v1/admin/sessions/{userId}/{id} on instance 0; the stream is on instance 1.
            let handle = try #require(SessionID(cookieValue: laptop)).handle
            let ended = try await shop.send(
                .DELETE,
                "/api/v1/admin/sessions/\(userID.uuidString.lowercased())/\(handle)",
                instance: 0,
                cookie: admin
            )
            #expect(ended.status == 204, "\(ended.body)")
            #expect(await laptopStream.waitUntilEnded(), "the ended session's stream is closed")
            try await Self.expectAlive(phoneStream, shop, admin: admin, events: 1)
            let again = try await SSEStream.open(shop.http, port: shop.ports[1], cookie: laptop)
            #expect(again.status == 401)
        }
    }

    @Test func aRoleChangeClosesEveryStreamOfTheUser() async throws {
        try await withOrderInstances(count: 2, configure: Self.tweak()) { shop in
            let user = try await shop.signIn("promoted@role.test")
            let userID = try await JobsTests.userID(shop, email: "promoted@role.test")
            try await Self.waitForListeners(shop)
            let first = try await Self.open(shop, cookie: user, instance: 0)
            let second = try await Self.open(shop, cookie: user, instance: 1)
            defer { Task { await first.close() } }
            defer { Task { await second.close() } }
            let service = try AccountService(
                configuration: shop.configuration.accounts,
                redis: shop.redis,
                users: AnyUsers(database: shop.database),
                logger: TestServers.logger
            )
            #expect(try await service.changeRole(of: userID, to: .admin))
            #expect(await first.waitUntilEnded())
            #expect(await second.waitUntilEnded())
        }
    }

    @Test func aSessionThatExpiresClosesItsStreamAtTheNextHeartbeat() async throws {
        // Heartbeats every second; nothing is announced when Redis expires a session key.
        try await withOrderInstances(count: 1, configure: Self.tweak(heartbeat: .seconds(1))) { shop in
            let user = try await shop.signIn("idle@expiry.test")
            let other = try await Self.login(shop, "idle@expiry.test")
            let stream = try await Self.open(shop, cookie: user, instance: 0)
            let survivor = try await Self.open(shop, cookie: other, instance: 0)
            defer { Task { await stream.close() } }
            defer { Task { await survivor.close() } }
            // What an expiry does: the key disappears, and no one is told.
            let hash = try #require(SessionID(cookieValue: user)).storageHash
            let key = shop.configuration.accounts.sessionKeyPrefix + "session:{\(hash)}"
            #expect(try await shop.redis.delete([key]) == 1)
            #expect(await stream.waitUntilEnded(), "the stream of the expired session is closed")
            // The live session's stream keeps its heartbeats.
            let comments = survivor.comments
            for _ in 0..<500 where survivor.comments <= comments { try await Task.sleep(for: .milliseconds(20)) }
            #expect(survivor.comments > comments && !survivor.ended)
        }
    }

    @Test func aUserHasAtMostTheConfiguredNumberOfStreamsPerInstance() async throws {
        try await withOrderInstances(
            count: 2,
            configure: Self.tweak { $0.notifications.maxStreamsPerUser = 2 }
        ) { shop in
            let user = try await shop.signIn("tabs@cap.test")
            let other = try await shop.signIn("someone@cap.test")
            let first = try await Self.open(shop, cookie: user, instance: 0)
            let second = try await Self.open(shop, cookie: user, instance: 0)
            defer { Task { await first.close() } }
            defer { Task { await second.close() } }
            // The third on the same instance is refused with the template ...
            let refused = try await shop.send(.GET, "/api/v1/notifications/stream", instance: 0, cookie: user)
            #expect(refused.status == 429)
            #expect(refused.headers["content-type"].first == "application/problem+json")
            #expect(refused.body.contains(#""code":"TOO_MANY_REQUESTS""#), "\(refused.body)")
            #expect(refused.body.contains("2 notification streams open on this instance"))
            #expect(refused.headers["retry-after"].first == "3600", "one heartbeat")
            // ... while another user, and the same user on another instance, still get theirs.
            let others = try await Self.open(shop, cookie: other, instance: 0)
            let elsewhere = try await Self.open(shop, cookie: user, instance: 1)
            await others.close()
            await elsewhere.close()
        }
    }
}
