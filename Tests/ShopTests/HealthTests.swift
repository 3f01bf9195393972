import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RedisClient
import Shop
import Testing

@Suite("Health")
struct HealthTests {
    struct Readiness: Decodable, Equatable {
        struct Data: Decodable, Equatable {
            var checks: [DependencyStatus]
            var instance: String
            var status: String
        }
        var data: Data
    }

    @Test("live answers 200 with the instance id")
    func live() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(response.text == #"{"data":{"instance":"test-instance","status":"up"},"meta":{}}"#)
            }
            // Every GET route answers HEAD too, without a body.
            try await client.execute(uri: "/health/live", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.xRequestID] != nil)
            }
        }
    }

    @Test("ready answers 200 when PostgreSQL and Redis are up")
    func readyWhenUp() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(
                    response.text
                        == #"{"data":{"checks":[{"name":"postgres","status":"up"},{"name":"redis","status":"up"}],"instance":"test-instance","status":"ready"},"meta":{}}"#
                )
            }
        }
    }

    @Test("ready answers 503 DEPENDENCY_UNAVAILABLE naming Redis when Redis is down")
    func readyWhenRedisDown() async throws {
        let port = try await closedPort()
        let redisDown: @Sendable (inout ShopConfiguration) throws -> Void = {
            $0.redis = try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0")
        }
        try await withTestApp(configure: redisDown) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let problem = try response.problem()
                #expect(problem.code == "DEPENDENCY_UNAVAILABLE")
                #expect(problem.detail == "Not ready: redis is unavailable.")
                #expect(problem.checks?.map(\.name) == ["postgres", "redis"])
                #expect(problem.checks?.map(\.status) == [.up, .down])
                #expect(problem.checks?[1].detail == "connection refused")
            }
            // Liveness does not depend on dependencies.
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("ready answers 503 DEPENDENCY_UNAVAILABLE naming PostgreSQL when PostgreSQL is down")
    func readyWhenPostgresDown() async throws {
        let port = try await closedPort()
        let postgresDown: @Sendable (inout ShopConfiguration) throws -> Void = {
            $0.database.port = port
            $0.migrateOnStart = false  // nothing to migrate against; the service must still serve
            $0.healthTimeout = .milliseconds(500)
        }
        try await withTestApp(configure: postgresDown) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let problem = try response.problem()
                #expect(problem.code == "DEPENDENCY_UNAVAILABLE")
                #expect(problem.detail == "Not ready: postgres is unavailable.")
                #expect(problem.checks?.map(\.status) == [.down, .up])
                #expect(!response.text.contains("shop:shop"))
            }
        }
    }

    @Test("with PostgreSQL down, routes that need it answer 503 SERVICE_UNAVAILABLE, not 500")
    func routesWhenPostgresDown() async throws {
        let port = try await closedPort()
        let postgresDown: @Sendable (inout ShopConfiguration) throws -> Void = {
            $0.database.port = port
            $0.migrateOnStart = false
            $0.cache.enabled = false
        }
        try await withTestApp(configure: postgresDown) { client in
            for path in ["/api/v1/products", "/api/v1/products/0b5c4b1e-7d1f-4c55-9f4e-000000000004"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    let problem = try response.problem()
                    #expect(problem.code == "SERVICE_UNAVAILABLE")
                    #expect(response.headers[.retryAfter] == "2")
                    #expect(!response.text.contains("shop:shop"))
                }
            }
        }
    }

    @Test("with PostgreSQL down, a request answers 503 within its connection wait, long before the pool gives up")
    func routesAnswerBeforeThePoolGivesUp() async throws {
        let port = try await closedPort()
        let postgresDown: @Sendable (inout ShopConfiguration) throws -> Void = {
            $0.database.port = port
            $0.migrateOnStart = false
            $0.cache.enabled = false
            $0.databaseRequestWait = .milliseconds(500)
        }
        try await withTestApp(.live, configure: postgresDown) { client in
            // postgres-nio's pool keeps a request waiting until its circuit breaker trips (60 s); the request's
            // own bound must answer first. 20 s is only a "did not hang" limit, far above the 0.5 s wait.
            let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await client.execute(uri: "/api/v1/products?page=1&size=5", method: .get) { response in
                        #expect(response.status == .serviceUnavailable)
                        #expect(response.headers[.retryAfter] == "2")
                        let problem = try response.problem()
                        #expect(problem.code == "SERVICE_UNAVAILABLE")
                    }
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(20))
                    return false
                }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
            #expect(answered, "the request was still waiting for the pool after 20 s")
        }
    }

    @Test("ready answers 503 naming both when both are down")
    func readyWhenBothDown() async throws {
        let port = try await closedPort()
        let bothDown: @Sendable (inout ShopConfiguration) throws -> Void = {
            $0.database.port = port
            $0.redis = try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0")
            $0.migrateOnStart = false
            $0.healthTimeout = .milliseconds(500)
        }
        try await withTestApp(configure: bothDown) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let problem = try response.problem()
                #expect(problem.detail == "Not ready: postgres, redis are unavailable.")
            }
        }
    }

    @Test("metrics answers Prometheus text")
    func metrics() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(response.headers[.xRequestID] != nil)
                // The Redis pool gauges are set on each scrape.
                let text = String(buffer: response.body)
                for gauge in [
                    #"redis_pool_connections{kind="shared"}"#, #"redis_pool_connections{kind="dedicated"}"#,
                    "redis_pool_idle_connections ", "redis_pool_waiters ", "redis_commands_in_flight ",
                ] {
                    #expect(text.contains(gauge), "\(gauge) missing")
                }
            }
        }
    }
}
