import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A configuration for one test: its own database, the test Redis, small pools, quiet logs.
func testConfiguration(database: DatabaseURL) throws -> ShopConfiguration {
    var configuration = ShopConfiguration()
    configuration.database = database
    configuration.redis = try TestServers.redis
    configuration.httpPort = 0
    configuration.instanceID = "test-instance"
    configuration.logLevel = .critical
    configuration.databaseMaxConnections = 2
    configuration.healthTimeout = .seconds(2)
    // Cache keys of its own: tests on different databases must never read each other's cached catalog.
    configuration.cache.keyPrefix = "test:cache:\(UUID().uuidString.prefix(8).lowercased()):"
    // Scheduler state of its own too: job locks, tick watermarks and run history are per deployment.
    configuration.jobs.keyPrefix = "test:jobs:\(UUID().uuidString.prefix(8).lowercased()):"
    // The queue and the notification channel too: a consumer must never take another test's messages (they
    // belong to another database).
    let run = UUID().uuidString.prefix(8).lowercased()
    configuration.queue.keyPrefix = "test:queue:\(run):"
    configuration.notifications.channel = "test:notify:\(run)"
    return configuration
}

/// Builds the application on a fresh, migrated database of its own and runs `test` against it.
func withTestApp<Result: Sendable>(
    _ setup: TestingSetup = .router,
    seed: Bool = false,
    configure: @Sendable (inout ShopConfiguration) throws -> Void = { _ in },
    extraRoutes: (@Sendable (RegisteringRouter<ShopRequestContext>) -> Void)? = nil,
    _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Result
) async throws -> Result {
    try await withTestDatabase { database in
        var configuration = try testConfiguration(database: database)
        try configure(&configuration)
        if seed {
            try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
                try await Seeder(client: client, logger: TestServers.logger).seed()
            }
        }
        let app = buildApplication(
            configuration: configuration,
            logger: TestServers.logger,
            options: ApplicationOptions(extraRoutes: extraRoutes)
        )
        do {
            let result = try await app.test(setup) { client in try await test(client.checkedAgainstOpenAPI) }
            await deleteTestKeys(configuration, prefixes: [configuration.cache.keyPrefix])
            return result
        } catch {
            await deleteTestKeys(configuration, prefixes: [configuration.cache.keyPrefix])
            throw error
        }
    }
}

/// A decoded error response, to check it member by member.
struct Problem: Decodable, Equatable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var instance: String
    var code: String
    var traceId: String
    var errors: [FieldError]?
    var checks: [DependencyStatus]?
}

extension TestResponse {
    /// The body as JSON of type `T`.
    func json<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: self.body))
    }

    /// The body decoded as a problem, after checking that the response follows the error template:
    /// media type, `status` equal to the status line, `traceId` equal to `X-Request-Id`.
    func problem(sourceLocation: SourceLocation = #_sourceLocation) throws -> Problem {
        #expect(self.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try self.json(Problem.self)
        #expect(problem.status == Int(self.status.code), sourceLocation: sourceLocation)
        #expect(problem.traceId == self.headers[.xRequestID], sourceLocation: sourceLocation)
        #expect(!problem.traceId.isEmpty, sourceLocation: sourceLocation)
        #expect(problem.title.isEmpty == false, sourceLocation: sourceLocation)
        let expectedType =
            "urn:redis-jobs:problem:" + problem.code.lowercased().replacingOccurrences(of: "_", with: "-")
        #expect(problem.type == expectedType, sourceLocation: sourceLocation)
        return problem
    }

    var text: String { String(buffer: self.body) }
}

extension HTTPField.Name {
    static var xRequestID: Self { .init("X-Request-Id")! }
}

/// A TCP port on loopback where nothing listens: bound by the system, then released.
func closedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 1
    try await channel.close()
    return port
}
