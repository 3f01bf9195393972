import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisSessions
import Testing

@testable import Shop

/// `POST /api/v1/me/password` (docs/api/accounts.md, docs/security.md "What rotates, what ends").
@Suite("Password change")
struct PasswordChangeTests {
    static let newPassword = "a brand new passphrase"

    static func change(
        _ client: any TestClientProtocol,
        cookie: String?,
        current: String,
        new: String = Self.newPassword
    ) async throws -> TestResponse {
        try await client.post(
            "/api/v1/me/password",
            json: #"{"currentPassword":"\#(current)","newPassword":"\#(new)"}"#,
            cookie: cookie
        )
    }

    @Test("the caller's session gets a new id, every other session ends, only the new password signs in")
    func rotatesAndEndsOthers() async throws {
        try await withAccountsApp { client, fixture in
            try await client.register("changer@example.com", password)
            let laptop = try await client.login("changer@example.com", password)
            let phone = try await client.login("changer@example.com", password)
            let oldHash = try await fixture.passwordHash(email: "changer@example.com")

            let changed = try await Self.change(client, cookie: laptop, current: password)
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(changed.text == #"{"data":{"revoked":1},"meta":{}}"#)
            let rotated = try #require(changed.sessionCookie)
            #expect(rotated != laptop)
            #expect(changed.sessionSetCookie?.contains("HttpOnly") == true)

            // The old id and the other device are refused at once; the new id works.
            #expect(try await client.send(.get, "/api/v1/me", cookie: laptop).status == .unauthorized)
            #expect(try await client.send(.get, "/api/v1/me", cookie: phone).status == .unauthorized)
            let me = try await client.send(.get, "/api/v1/me", cookie: rotated)
            #expect(me.status == .ok)
            let sessions = try await client.send(.get, "/api/v1/me/sessions", cookie: rotated).json(SessionsBody.self)
            #expect(sessions.data.map(\.current) == [true])
            #expect(sessions.data.first?.id == SessionID(cookieValue: rotated)?.handle)

            // The hash changed; the old password no longer signs in, the new one does.
            #expect(try await fixture.passwordHash(email: "changer@example.com") != oldHash)
            let old = try await client.post(
                "/api/v1/auth/login",
                json: #"{"email":"changer@example.com","password":"\#(password)"}"#
            )
            #expect(old.status == .unauthorized)
            _ = try await client.login("changer@example.com", Self.newPassword)
        }
    }

    @Test("a wrong current password changes nothing, keeps the session, and counts against the sign-in limit")
    func wrongCurrentPassword() async throws {
        try await withAccountsApp(configure: .with { $0.accounts.loginMaxAttemptsPerAccount = 3 }) { client, fixture in
            try await client.register("guess@example.com", password)
            let cookie = try await client.login("guess@example.com", password)
            let hash = try await fixture.passwordHash(email: "guess@example.com")
            for _ in 0..<3 {
                let wrong = try await Self.change(client, cookie: cookie, current: "not the password")
                #expect(wrong.status == .unauthorized)
                let problem = try wrong.problem()
                #expect(problem.code == "INVALID_CREDENTIALS")
                #expect(problem.detail == "The current password is incorrect; nothing was changed.")
                #expect(wrong.sessionSetCookie == nil)
            }
            #expect(try await client.send(.get, "/api/v1/me", cookie: cookie).status == .ok)
            #expect(try await fixture.passwordHash(email: "guess@example.com") == hash)
            // Past the account's limit even the right password is refused — here and at sign-in.
            let limited = try await Self.change(client, cookie: cookie, current: password)
            #expect(limited.status == .tooManyRequests)
            #expect(try limited.problem().code == "TOO_MANY_REQUESTS")
            #expect(limited.headers[.retryAfter] != nil)
            let login = try await client.post(
                "/api/v1/auth/login",
                json: #"{"email":"guess@example.com","password":"\#(password)"}"#
            )
            #expect(login.status == .tooManyRequests)
            #expect(try await fixture.passwordHash(email: "guess@example.com") == hash)
        }
    }

    @Test("the new password follows the registration rules; anonymous callers are refused")
    func validation() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("rules@example.com", password)
            let cookie = try await client.login("rules@example.com", password)
            let short = try await Self.change(client, cookie: cookie, current: password, new: "short")
            #expect(short.status == .unprocessableContent)
            #expect(try short.problem().errors?.map(\.field) == ["newPassword"])
            let same = try await Self.change(client, cookie: cookie, current: password, new: password)
            #expect(try same.problem().errors?.map(\.code) == ["INVALID_FORMAT"])
            let email = try await Self.change(client, cookie: cookie, current: password, new: "rules@example.com")
            #expect(try email.problem().errors?.map(\.field) == ["newPassword"])
            let missing = try await client.post("/api/v1/me/password", json: #"{"newPassword":"x"}"#, cookie: cookie)
            #expect(missing.status == .unprocessableContent)
            #expect(try missing.problem().errors?.map(\.field) == ["currentPassword"])
            let anonymous = try await Self.change(client, cookie: nil, current: password)
            #expect(anonymous.status == .unauthorized)
            #expect(try anonymous.problem().code == "UNAUTHORIZED")
            // Nothing of that changed the session or the password.
            #expect(try await client.send(.get, "/api/v1/me", cookie: cookie).status == .ok)
            _ = try await client.login("rules@example.com", password)
        }
    }

    @Test("a password change closes the streams of the other sessions and of the caller's old id")
    func closesStreams() async throws {
        try await withOrderInstances(count: 2, configure: StreamRevocationTests.tweak()) { shop in
            let laptop = try await shop.signIn("streams@password.test")
            let phone = try await StreamRevocationTests.login(shop, "streams@password.test", instance: 1)
            try await StreamRevocationTests.waitForListeners(shop)
            let laptopStream = try await StreamRevocationTests.open(shop, cookie: laptop, instance: 1)
            let phoneStream = try await StreamRevocationTests.open(shop, cookie: phone, instance: 0)
            defer { Task { await laptopStream.close() } }
            defer { Task { await phoneStream.close() } }
            let changed = try await shop.send(
                .POST,
                "/api/v1/me/password",
                instance: 0,
                cookie: laptop,
                body: #"{"currentPassword":"correct horse battery","newPassword":"\#(Self.newPassword)"}"#
            )
            #expect(changed.status == 200, "\(changed.body)")
            #expect(await phoneStream.waitUntilEnded())
            // The laptop's stream was bound to the id that rotated away: it reconnects with the new cookie.
            #expect(await laptopStream.waitUntilEnded())
            let cookie = changed.headers["set-cookie"].first { $0.hasPrefix(sessionCookieName + "=") }
            let rotated = String(try #require(cookie).split(separator: ";")[0].dropFirst(sessionCookieName.count + 1))
            let again = try await StreamRevocationTests.open(shop, cookie: rotated, instance: 1)
            await again.close()
        }
    }
}
