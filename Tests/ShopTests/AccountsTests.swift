import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import RedisClient
import RedisSessions
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

struct UserBody: Decodable, Equatable {
    var data: User
    var meta: [String: Int]

    struct User: Decodable, Equatable {
        var id: String
        var email: String
        var role: String
        var createdAt: String
    }
}

struct SessionsBody: Decodable {
    var data: [Entry]

    struct Entry: Decodable {
        var id: String
        var createdAt: String
        var lastSeenAt: String
        var expiresAt: String
        var userAgent: String
        var ipAddress: String
        var current: Bool
    }
}

let password = "correct horse battery"

@Suite("Accounts: registration, sign-in, sessions")
struct AccountsTests {
    @Test("register answers 201 with the user and never the password or its hash")
    func register() async throws {
        try await withAccountsApp { client, fixture in
            let response = try await client.register("ann@example.com", password)
            #expect(response.headers[.location] == nil)
            let body = try response.json(UserBody.self)
            #expect(body.data.email == "ann@example.com")
            #expect(body.data.role == "user")
            #expect(UUID(uuidString: body.data.id) != nil)
            #expect(body.data.id == body.data.id.lowercased())
            #expect(body.data.createdAt.hasSuffix("Z") && body.data.createdAt.count == 20)
            let hash = try await fixture.passwordHash(email: "ann@example.com")
            #expect(hash.hasPrefix("$2"))
            #expect(!response.text.contains(hash))
            #expect(!response.text.contains(password))
            #expect(!response.text.contains("password"))
        }
    }

    @Test("a taken e-mail address (in any case) answers 409 CONFLICT")
    func duplicate() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("Ann@Example.com", password)
            for email in ["Ann@Example.com", "ann@example.com"] {
                let response = try await client.post(
                    "/api/v1/auth/register",
                    json: #"{"email":"\#(email)","password":"another password"}"#
                )
                #expect(response.status == .conflict)
                let problem = try response.problem()
                #expect(problem.code == "CONFLICT")
                #expect(problem.detail == "An account with this e-mail address exists already.")
            }
        }
    }

    @Test(
        "registration input is validated: 422 with every bad field",
        arguments: [
            (#"{"email":"not-an-address","password":"long enough pw"}"#, ["email:INVALID_FORMAT"]),
            (#"{"email":"a@b","password":"long enough pw"}"#, ["email:INVALID_FORMAT"]),
            (#"{"email":"a..b@example.com","password":"long enough pw"}"#, ["email:INVALID_FORMAT"]),
            (#"{"email":"a@-example.com","password":"long enough pw"}"#, ["email:INVALID_FORMAT"]),
            (#"{"email":" a@example.com","password":"long enough pw"}"#, ["email:INVALID_FORMAT"]),
            (#"{"email":"a@example.com","password":"short"}"#, ["password:TOO_SHORT"]),
            (
                #"{"email":"a@example.com","password":"\#(String(repeating: "x", count: 73))"}"#,
                ["password:TOO_LONG"]
            ),
            (#"{"email":"a@example.com","password":"tab\tinside pw"}"#, ["password:INVALID_FORMAT"]),
            (#"{"email":"a@example.com","password":"A@example.com"}"#, ["password:INVALID_FORMAT"]),
            (#"{"email":"x","password":"x"}"#, ["email:INVALID_FORMAT", "password:TOO_SHORT"]),
            (#"{"password":"long enough pw"}"#, ["email:REQUIRED"]),
            (#"{"email":"a@example.com","password":42}"#, ["password:INVALID_TYPE"]),
        ]
    )
    func validation(body: String, expected: [String]) async throws {
        try await withAccountsApp { client, _ in
            let response = try await client.post("/api/v1/auth/register", json: body)
            #expect(response.status == .unprocessableContent)
            let problem = try response.problem()
            #expect(problem.code == "VALIDATION_FAILED")
            #expect((problem.errors ?? []).map { "\($0.field):\($0.code)" } == expected)
        }
    }

    @Test("sign-in sets an HttpOnly, SameSite=Lax, Path=/ cookie and answers the user; /me knows it")
    func signIn() async throws {
        try await withAccountsApp { client, _ in
            let registered = try await client.register("bo@example.com", password).json(UserBody.self)
            let response = try await client.post(
                "/api/v1/auth/login",
                json: #"{"email":"BO@example.com","password":"\#(password)"}"#
            )
            #expect(response.status == .ok)
            #expect(try response.json(UserBody.self) == registered)
            let setCookie = try #require(response.sessionSetCookie)
            let cookie = try #require(response.sessionCookie)
            #expect(SessionID(cookieValue: cookie) != nil)
            #expect(setCookie == "shop_session=\(cookie); Path=/; Max-Age=43200; HttpOnly; SameSite=Lax")
            let me = try await client.send(.get, "/api/v1/me", cookie: cookie)
            #expect(me.status == .ok)
            #expect(try me.json(UserBody.self) == registered)
            #expect(me.headers[.setCookie] == nil)
        }
    }

    @Test("with SESSION_COOKIE_SECURE the cookie is Secure and named __Host-shop_session")
    func secureCookie() async throws {
        try await withAccountsApp(configure: .with { $0.accounts.sessionCookieSecure = true }) { client, _ in
            try await client.register("cy@example.com", password)
            let response = try await client.post(
                "/api/v1/auth/login",
                json: #"{"email":"cy@example.com","password":"\#(password)"}"#
            )
            let header = try #require(response.headers[.setCookie])
            #expect(header.hasPrefix("__Host-shop_session="))
            #expect(header.hasSuffix("; HttpOnly; SameSite=Lax; Secure"))
            #expect(header.contains("; Path=/;"))
            let value = String(header.split(separator: ";")[0].dropFirst("__Host-shop_session=".count))
            let me = try await client.send(
                .get,
                "/api/v1/me",
                cookie: nil,
                headers: [.cookie: "__Host-shop_session=\(value)"]
            )
            #expect(me.status == .ok)
        }
    }

    @Test("an unknown address and a wrong password get the very same answer")
    func uniformFailure() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("di@example.com", password)
            var problems: [Problem] = []
            for body in [
                #"{"email":"di@example.com","password":"wrong password!"}"#,
                #"{"email":"nobody@example.com","password":"wrong password!"}"#,
                #"{"email":"nobody@example.com","password":"\#(password)"}"#,
                #"{"email":"di@example.com","password":"\#(password)\#(String(repeating: "x", count: 80))"}"#,
            ] {
                let response = try await client.post("/api/v1/auth/login", json: body)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil)
                var problem = try response.problem()
                problem.traceId = ""
                problems.append(problem)
            }
            #expect(problems[0].code == "INVALID_CREDENTIALS")
            #expect(problems[0].detail == "The e-mail address or password is incorrect.")
            #expect(Set(problems.map { "\($0)" }).count == 1)
        }
    }

    @Test("anonymous callers get 401 UNAUTHORIZED on every /me route, in the template")
    func anonymous() async throws {
        try await withAccountsApp { client, _ in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/api/v1/me"), (.get, "/api/v1/me/sessions"), (.delete, "/api/v1/me/sessions"),
                (.delete, "/api/v1/me/sessions/0123456789abcdef"),
            ] {
                for cookie in [nil, "garbage", SessionID.random().cookieValue] {
                    let response = try await client.send(method, uri, cookie: cookie)
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                    let problem = try response.problem()
                    #expect(problem.code == "UNAUTHORIZED")
                    #expect(problem.detail == "Sign in first: this endpoint needs a session.")
                    if cookie != nil {
                        // A cookie that names no session is removed from the client.
                        #expect(response.sessionSetCookie?.contains("Max-Age=0") == true)
                    }
                }
            }
        }
    }

    @Test("logout ends the session at once and clears the cookie")
    func logout() async throws {
        try await withAccountsApp { client, fixture in
            try await client.register("ed@example.com", password)
            let cookie = try await client.login("ed@example.com", password)
            let response = try await client.post("/api/v1/auth/logout", json: "", cookie: cookie)
            #expect(response.status == .noContent)
            #expect(response.sessionSetCookie == "shop_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
            #expect(try await client.send(.get, "/api/v1/me", cookie: cookie).status == .unauthorized)
            let id = try #require(SessionID(cookieValue: cookie))
            #expect(try await fixture.keys().contains { $0.contains(id.storageHash) } == false)
            // Logging out again, or without a session, is harmless.
            #expect(try await client.post("/api/v1/auth/logout", json: "", cookie: cookie).status == .noContent)
            #expect(try await client.post("/api/v1/auth/logout", json: "").status == .noContent)
        }
    }

    @Test("a pre-sign-in session id is useless after sign-in (fixation)")
    func fixation() async throws {
        try await withAccountsApp { client, fixture in
            try await client.register("fi@example.com", password)
            // A session that exists before sign-in, for example one an attacker planted in the victim's browser.
            let store = try fixture.store()
            let planted = try await store.create(
                AuthenticatedUser(id: UUID(), email: "x@example.com", role: .user, createdAt: Date()),
                userID: nil,
                client: SessionClient(userAgent: "attacker", address: "203.0.113.9")
            )
            #expect(try await client.send(.get, "/api/v1/me", cookie: planted.id.cookieValue).status == .ok)
            let cookie = try await client.login("fi@example.com", password, cookie: planted.id.cookieValue)
            #expect(cookie != planted.id.cookieValue)
            #expect(try await store.load(planted.id) == nil)
            #expect(try await client.send(.get, "/api/v1/me", cookie: planted.id.cookieValue).status == .unauthorized)
            let me = try await client.send(.get, "/api/v1/me", cookie: cookie)
            #expect(try me.json(UserBody.self).data.email == "fi@example.com")
            // A made-up id the client presents is never adopted either.
            let madeUp = SessionID.random().cookieValue
            #expect(try await client.login("fi@example.com", password, cookie: madeUp) != madeUp)
            #expect(try await client.send(.get, "/api/v1/me", cookie: madeUp).status == .unauthorized)
        }
    }

    @Test("list my sessions: every device, the current one marked, no cookie values")
    func listSessions() async throws {
        try await withAccountsApp(configure: .with { $0.accounts.trustProxy = true }) { client, _ in
            try await client.register("gi@example.com", password)
            let laptop = try await client.login(
                "gi@example.com",
                password,
                headers: [.userAgent: "Laptop/1.0", .xForwardedFor: "198.51.100.1"]
            )
            let phone = try await client.login(
                "gi@example.com",
                password,
                headers: [.userAgent: "Phone/2.0", .xForwardedFor: "203.0.113.5, 198.51.100.2"]
            )
            let response = try await client.send(.get, "/api/v1/me/sessions", cookie: laptop)
            #expect(response.status == .ok)
            #expect(!response.text.contains(laptop) && !response.text.contains(phone))
            let sessions = try response.json(SessionsBody.self).data
            #expect(sessions.count == 2)
            let current = try #require(sessions.first { $0.current })
            #expect(current.userAgent == "Laptop/1.0")
            #expect(current.ipAddress == "198.51.100.1")
            #expect(current.id == SessionID(cookieValue: laptop)?.handle)
            let other = try #require(sessions.first { !$0.current })
            #expect(other.userAgent == "Phone/2.0")
            #expect(other.ipAddress == "198.51.100.2")
            #expect(other.id.count == 16)
            #expect(sessions[0].createdAt >= sessions[1].createdAt)
        }
    }

    @Test("revoke one session from another device: that device is signed out at once")
    func revokeOne() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("hu@example.com", password)
            let laptop = try await client.login("hu@example.com", password)
            let phone = try await client.login("hu@example.com", password)
            let phoneHandle = try #require(SessionID(cookieValue: phone)?.handle)
            let response = try await client.send(.delete, "/api/v1/me/sessions/\(phoneHandle)", cookie: laptop)
            #expect(response.status == .noContent)
            #expect(response.headers[.setCookie] == nil)
            #expect(try await client.send(.get, "/api/v1/me", cookie: phone).status == .unauthorized)
            #expect(try await client.send(.get, "/api/v1/me", cookie: laptop).status == .ok)
            // Gone now; unknown handles and malformed ones are answered in the template.
            let again = try await client.send(.delete, "/api/v1/me/sessions/\(phoneHandle)", cookie: laptop)
            #expect(again.status == .notFound)
            #expect(try again.problem().code == "NOT_FOUND")
            let bad = try await client.send(.delete, "/api/v1/me/sessions/\(phone)", cookie: laptop)
            #expect(bad.status == .badRequest)
            #expect(try bad.problem().errors?.first?.field == "id")
        }
    }

    @Test("a user cannot revoke someone else's session by its handle")
    func revokeForeign() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("iv@example.com", password)
            try await client.register("jo@example.com", password)
            let ivy = try await client.login("iv@example.com", password)
            let jo = try await client.login("jo@example.com", password)
            let joHandle = try #require(SessionID(cookieValue: jo)?.handle)
            #expect(try await client.send(.delete, "/api/v1/me/sessions/\(joHandle)", cookie: ivy).status == .notFound)
            #expect(try await client.send(.get, "/api/v1/me", cookie: jo).status == .ok)
        }
    }

    @Test("revoking one's own current session signs it out and clears the cookie")
    func revokeCurrent() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("ka@example.com", password)
            let cookie = try await client.login("ka@example.com", password)
            let handle = try #require(SessionID(cookieValue: cookie)?.handle)
            let response = try await client.send(.delete, "/api/v1/me/sessions/\(handle)", cookie: cookie)
            #expect(response.status == .noContent)
            #expect(response.sessionSetCookie?.contains("Max-Age=0") == true)
            #expect(try await client.send(.get, "/api/v1/me", cookie: cookie).status == .unauthorized)
        }
    }

    @Test("log out everywhere else: every other session ends, this one stays")
    func revokeOthers() async throws {
        try await withAccountsApp { client, _ in
            try await client.register("li@example.com", password)
            try await client.register("mo@example.com", password)
            let current = try await client.login("li@example.com", password)
            var others: [String] = []
            for _ in 0..<3 { others.append(try await client.login("li@example.com", password)) }
            let stranger = try await client.login("mo@example.com", password)
            let response = try await client.send(.delete, "/api/v1/me/sessions", cookie: current)
            #expect(response.status == .ok)
            #expect(response.text == #"{"data":{"revoked":3},"meta":{}}"#)
            for cookie in others {
                #expect(try await client.send(.get, "/api/v1/me", cookie: cookie).status == .unauthorized)
            }
            #expect(try await client.send(.get, "/api/v1/me", cookie: current).status == .ok)
            #expect(try await client.send(.get, "/api/v1/me", cookie: stranger).status == .ok)
            let listed = try await client.send(.get, "/api/v1/me/sessions", cookie: current).json(SessionsBody.self)
            #expect(listed.data.map(\.current) == [true])
        }
    }

    @Test("the examples in docs/api/accounts.md and the README are what the service answers")
    func documentedExamples() async throws {
        let documentation = try repositoryFile("docs/api/accounts.md")
        let readme = try repositoryFile("README.md")
        try await withAccountsApp { client, fixture in
            try await fixture.insertDemoUser()
            let login = try await client.post(
                "/api/v1/auth/login",
                json: #"{"email":"demo@example.com","password":"demo-password-local"}"#
            )
            #expect(login.status == .ok)
            var answers = [login.text]
            let cookie = try #require(login.sessionCookie)
            let me = try await client.send(.get, "/api/v1/me", cookie: cookie)
            #expect(me.text == login.text)
            _ = try await client.post("/api/v1/auth/logout", json: "", cookie: cookie)
            let requests: [(String, String?, String)] = [
                ("/api/v1/me", nil, "tour-6"),
                ("/api/v1/auth/login", #"{"email":"demo@example.com","password":"not-the-password"}"#, "tour-7"),
                ("/api/v1/auth/register", #"{"email":"demo@example.com","password":"another-password"}"#, "tour-8"),
                ("/api/v1/auth/register", #"{"email":"someone","password":"short"}"#, "tour-9"),
            ]
            for (uri, body, requestID) in requests {
                let response =
                    if let body {
                        try await client.post(uri, json: body, headers: [.xRequestID: requestID])
                    } else {
                        try await client.send(.get, uri, cookie: cookie, headers: [.xRequestID: requestID])
                    }
                answers.append(response.text)
            }
            for answer in answers {
                #expect(documentation.contains(answer), "docs/api/accounts.md should show \(answer)")
                #expect(readme.contains(answer), "README.md should show \(answer)")
            }
        }
    }

    @Test("wrong methods on account routes answer 405 with Allow")
    func methods() async throws {
        try await withAccountsApp { client, _ in
            let response = try await client.send(.get, "/api/v1/auth/login", cookie: nil)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
            #expect(try response.problem().code == "METHOD_NOT_ALLOWED")
            let me = try await client.send(.post, "/api/v1/me", cookie: nil)
            #expect(me.status == .methodNotAllowed)
            #expect(me.headers[.allow] == "GET, HEAD")
        }
    }
}

extension HTTPField.Name {
    static var xForwardedFor: Self { Self("X-Forwarded-For")! }
    static var secFetchSite: Self { Self("Sec-Fetch-Site")! }
}
