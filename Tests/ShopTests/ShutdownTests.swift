import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shop
import Testing

@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test("graceful shutdown lets an in-flight request finish, then stops every service")
    func drainsInFlightRequests() async throws {
        try await withTestDatabase { database in
            var configuration = try testConfiguration(database: database)
            configuration.httpPort = try await closedPort()
            let port = configuration.httpPort
            let app = buildApplication(
                configuration: configuration,
                logger: TestServers.logger,
                options: ApplicationOptions(extraRoutes: { router in
                    router.get("/test/slow") { _, _ in
                        try await Task.sleep(for: .milliseconds(500))
                        return "finished"
                    }
                })
            )
            let group = ServiceGroup(services: [app], logger: TestServers.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }

                // Wait until the server answers.
                var up = false
                for _ in 0..<100 where !up {
                    up = (try? await RawHTTP.exchange(port: port, request: Self.get("/health/live"))) != nil
                    if !up { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(up)

                async let slow = RawHTTP.exchange(port: port, request: Self.get("/test/slow"))
                try await Task.sleep(for: .milliseconds(150))
                await group.triggerGracefulShutdown()

                let response = try await slow
                #expect(response.statusLine.hasPrefix("HTTP/1.1 200 "))
                #expect(response.body == "finished")
                // The group (server and PostgreSQL client) stops by itself.
                try await tasks.next()
                // And nothing listens any more.
                await #expect(throws: (any Error).self) {
                    try await RawHTTP.exchange(port: port, request: Self.get("/health/live"))
                }
            }
        }
    }

    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    }
}
