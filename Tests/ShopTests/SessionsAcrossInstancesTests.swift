import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisSessions
import Shop
import Testing

/// Two independent applications — separate processes in all but name: their own HTTP servers, Redis clients
/// and PostgreSQL pools — that share only one Redis and one database, as instances behind a load balancer do.
@Suite("Sessions across instances")
struct SessionsAcrossInstancesTests {
    /// Runs `body` with clients of two live instances on one database and one Redis key prefix.
    func withTwoInstances(
        _ body: @escaping @Sendable (any TestClientProtocol, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withTestDatabase { database in
            let shared = try accountsConfiguration(database: database) { _ in }
            try await withTestRedis(prefix: shared.accounts.sessionKeyPrefix) { _ in
                var first = shared
                first.instanceID = "shop-a"
                var second = shared
                second.instanceID = "shop-b"
                let a = buildApplication(configuration: first, logger: TestServers.logger)
                let b = buildApplication(configuration: second, logger: TestServers.logger)
                try await a.test(.live) { clientA in
                    try await b.test(.live) { clientB in
                        #expect(clientA.port != clientB.port)
                        try await body(clientA, clientB)
                    }
                }
            }
        }
    }

    @Test("sign in on A, GET /me on B works; sign out on B, A refuses the old cookie at once")
    func signInOnASignOutOnB() async throws {
        try await self.withTwoInstances { a, b in
            try await a.register("multi@example.com", password)
            let cookie = try await a.login("multi@example.com", password)
            let onB = try await b.send(.get, "/api/v1/me", cookie: cookie)
            #expect(onB.status == .ok)
            #expect(try onB.json(UserBody.self).data.email == "multi@example.com")

            let logout = try await b.post("/api/v1/auth/logout", json: "", cookie: cookie)
            #expect(logout.status == .noContent)
            let onA = try await a.send(.get, "/api/v1/me", cookie: cookie)
            #expect(onA.status == .unauthorized)
            #expect(try onA.problem().code == "UNAUTHORIZED")
        }
    }

    @Test("a device signed in on A is revoked from another device on B and refused on A")
    func revokeFromAnotherDevice() async throws {
        try await self.withTwoInstances { a, b in
            try await b.register("devices@example.com", password)
            let laptop = try await a.login("devices@example.com", password, headers: [.userAgent: "Laptop"])
            let phone = try await b.login("devices@example.com", password, headers: [.userAgent: "Phone"])
            // The phone (on B) lists both sessions and ends the laptop's.
            let sessions = try await b.send(.get, "/api/v1/me/sessions", cookie: phone).json(SessionsBody.self).data
            #expect(sessions.count == 2)
            let laptopEntry = try #require(sessions.first { $0.userAgent == "Laptop" })
            #expect(!laptopEntry.current)
            #expect(
                try await b.send(.delete, "/api/v1/me/sessions/\(laptopEntry.id)", cookie: phone).status == .noContent
            )
            #expect(try await a.send(.get, "/api/v1/me", cookie: laptop).status == .unauthorized)
            #expect(try await a.send(.get, "/api/v1/me", cookie: phone).status == .ok)
            let remaining = try await a.send(.get, "/api/v1/me/sessions", cookie: phone).json(SessionsBody.self).data
            #expect(remaining.map(\.userAgent) == ["Phone"])
        }
    }

    @Test("log out everywhere else on A ends the sessions that B served")
    func everywhereElse() async throws {
        try await self.withTwoInstances { a, b in
            try await a.register("everywhere@example.com", password)
            let keep = try await a.login("everywhere@example.com", password)
            let other = try await b.login("everywhere@example.com", password)
            #expect(try await b.send(.get, "/api/v1/me", cookie: other).status == .ok)
            let response = try await a.send(.delete, "/api/v1/me/sessions", cookie: keep)
            #expect(response.text == #"{"data":{"revoked":1},"meta":{}}"#)
            #expect(try await b.send(.get, "/api/v1/me", cookie: other).status == .unauthorized)
            #expect(try await b.send(.get, "/api/v1/me", cookie: keep).status == .ok)
        }
    }

    @Test("the sign-in limit is shared: attempts on A and B count in one window")
    func sharedLimit() async throws {
        try await withTestDatabase { database in
            let shared = try accountsConfiguration(database: database) { configuration in
                configuration.accounts.loginMaxAttemptsPerAccount = 4
            }
            try await withTestRedis(prefix: shared.accounts.sessionKeyPrefix) { _ in
                let a = buildApplication(configuration: shared, logger: TestServers.logger)
                let b = buildApplication(configuration: shared, logger: TestServers.logger)
                try await a.test(.live) { clientA in
                    try await b.test(.live) { clientB in
                        let wrong = #"{"email":"shared@example.com","password":"wrong password!"}"#
                        for client in [clientA, clientB, clientA, clientB] {
                            let response = try await client.post("/api/v1/auth/login", json: wrong)
                            #expect(response.status == .unauthorized)
                        }
                        let onA = try await clientA.post("/api/v1/auth/login", json: wrong)
                        #expect(onA.status == .tooManyRequests)
                        let onB = try await clientB.post("/api/v1/auth/login", json: wrong)
                        #expect(onB.status == .tooManyRequests)
                    }
                }
            }
        }
    }
}
