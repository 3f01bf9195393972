import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import RedisClient
import RedisSessions
import Testing

/// A minimal application context with sessions, as a user of the library would write it.
struct TestContext: SessionRequestContext {
    var coreContext: CoreRequestContextStorage
    var sessions = SessionContext<Cart>()

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}

struct SessionView: ResponseEncodable, Decodable, Equatable {
    var items: [String]?
    var lookupFailed: Bool
    var cookiePresented: Bool
}

@Suite("SessionMiddleware and CrossSiteRequestGuard in a Hummingbird router")
struct MiddlewareTests {
    static let cookie = SessionCookie(name: "sid", secure: false)

    static func router(store: RedisSessionStore<Cart>) -> Router<TestContext> {
        let router = Router(context: TestContext.self)
        router.add(middleware: CrossSiteRequestGuard())
        router.add(middleware: SessionMiddleware(store: store, cookie: Self.cookie))
        router.post("/login") { _, context in
            let session = try await store.create(
                Cart(items: ["signed-in"]),
                userID: "u1",
                client: SessionClient(userAgent: "", address: ""),
                replacing: context.sessions.current
            )
            var response = Response(status: .noContent)
            response.headers[.setCookie] = Self.cookie.setCookieValue(for: session)
            return response
        }
        router.get("/whoami") { _, context in
            SessionView(
                items: context.sessions.current?.value.items,
                lookupFailed: context.sessions.lookupError != nil,
                cookiePresented: context.sessions.cookiePresented
            )
        }
        return router
    }

    static func view(_ response: TestResponse) -> SessionView? {
        try? JSONDecoder().decode(SessionView.self, from: Data(String(buffer: response.body).utf8))
    }

    static func sessionCookie(_ response: TestResponse) throws -> String {
        let header = try #require(response.headers[.setCookie])
        let value = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)[1]
        return String(value)
    }

    @Test("no cookie: no session, no Redis call needed, no Set-Cookie")
    func anonymous() async throws {
        try await TestRedis.withStore { store, _ in
            let app = Application(router: Self.router(store: store))
            try await app.test(.router) { client in
                try await client.execute(uri: "/whoami", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(Self.view(response) == SessionView(items: nil, lookupFailed: false, cookiePresented: false))
                    #expect(response.headers[.setCookie] == nil)
                }
            }
        }
    }

    @Test("the cookie set at login names the session on the next request; the old id stops working")
    func loginThenUse() async throws {
        try await TestRedis.withStore { store, _ in
            let app = Application(router: Self.router(store: store))
            try await app.test(.router) { client in
                let first = try await client.execute(uri: "/login", method: .post) { try Self.sessionCookie($0) }
                try await client.execute(uri: "/whoami", method: .get, headers: [.cookie: "sid=\(first)"]) { response in
                    #expect(Self.view(response)?.items == ["signed-in"])
                    #expect(response.headers[.setCookie] == nil)
                }
                // Logging in again while presenting the first id replaces it.
                let second = try await client.execute(uri: "/login", method: .post, headers: [.cookie: "sid=\(first)"])
                {
                    try Self.sessionCookie($0)
                }
                #expect(second != first)
                try await client.execute(uri: "/whoami", method: .get, headers: [.cookie: "sid=\(first)"]) { response in
                    #expect(Self.view(response) == SessionView(items: nil, lookupFailed: false, cookiePresented: true))
                    #expect(response.headers[.setCookie] == Self.cookie.expiredSetCookieValue)
                }
            }
        }
    }

    @Test("a malformed cookie is dropped without asking Redis, and cleared")
    func malformedCookie() async throws {
        try await TestRedis.withStore { store, _ in
            let app = Application(router: Self.router(store: store))
            try await app.test(.router) { client in
                try await client.execute(uri: "/whoami", method: .get, headers: [.cookie: "sid=../../etc"]) {
                    response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.setCookie] == Self.cookie.expiredSetCookieValue)
                }
            }
        }
    }

    @Test("Redis down: anonymous handling continues, and the context says the lookup failed")
    func redisDown() async throws {
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:1/0")
        configuration.connectTimeout = .milliseconds(200)
        let redis = RedisClient(configuration: configuration, logger: TestRedis.logger)
        do {
            try await Self.checkRedisDown(redis)
            await redis.shutdown()
        } catch {
            await redis.shutdown()
            throw error
        }
    }

    static func checkRedisDown(_ redis: RedisClient) async throws {
        let store = try RedisSessionStore<Cart>(redis: redis, logger: TestRedis.logger)
        let app = Application(router: Self.router(store: store))
        try await app.test(.router) { client in
            let cookie = "sid=\(SessionID.random().cookieValue)"
            try await client.execute(uri: "/whoami", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                #expect(Self.view(response) == SessionView(items: nil, lookupFailed: true, cookiePresented: true))
                // The client may still be signed in: its cookie is not cleared.
                #expect(response.headers[.setCookie] == nil)
            }
        }
    }

    @Test("a cross-site POST is refused before the handler runs")
    func crossSite() async throws {
        try await TestRedis.withStore { store, redis in
            let app = Application(router: Self.router(store: store))
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"]
                ) {
                    response in
                    #expect(response.status == .forbidden)
                    #expect(response.headers[.setCookie] == nil)
                }
                try await client.execute(uri: "/login", method: .post, headers: [.origin: "https://evil.test"]) {
                    response in
                    #expect(response.status == .forbidden)
                }
                try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: [HTTPField.Name("Sec-Fetch-Site")!: "same-origin"]
                ) {
                    response in
                    #expect(response.status == .noContent)
                }
            }
            // Only the one allowed login created a session.
            let keys = try await TestRedis.keys(prefix: store.configuration.keyPrefix + "session:", client: redis)
            #expect(keys.count == 1)
        }
    }
}
