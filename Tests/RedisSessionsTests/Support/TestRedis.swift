import Foundation
import Logging
import RedisClient
import RedisSessions
import Testing

/// The session value the library tests store.
struct Cart: Codable, Sendable, Equatable {
    var items: [String]
    var role: String = "user"
}

enum TestRedis {
    /// `REDIS_URL`, or the local server `scripts/services.sh` starts.
    static var configuration: RedisConfiguration {
        get throws {
            try RedisConfiguration(url: ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0")
        }
    }

    static var logger: Logger {
        var logger = Logger(label: "redis-sessions-tests")
        logger.logLevel = .critical
        return logger
    }

    /// A prefix no other test uses.
    static func uniquePrefix() -> String {
        "test:sessions:\(UUID().uuidString.prefix(8).lowercased()):"
    }

    /// Runs `body` with a client of the shared test server; removes every key under `prefix` afterwards.
    static func withClient<Result>(
        prefix: String,
        configuration: RedisConfiguration? = nil,
        _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        let client = RedisClient(configuration: try configuration ?? Self.configuration, logger: Self.logger)
        do {
            let result = try await body(client)
            try await Self.removeKeys(prefix: prefix, client: client)
            await client.shutdown()
            return result
        } catch {
            try? await Self.removeKeys(prefix: prefix, client: client)
            await client.shutdown()
            throw error
        }
    }

    /// A store with its own prefix on the shared test server.
    static func withStore<Result>(
        idle: Duration = .seconds(60),
        lifetime: Duration = .seconds(600),
        touch: Duration = .zero,
        clock: ManualClock? = nil,
        _ body: (RedisSessionStore<Cart>, RedisClient) async throws -> Result
    ) async throws -> Result {
        let prefix = Self.uniquePrefix()
        return try await Self.withClient(prefix: prefix) { client in
            let configuration = RedisSessionConfiguration(
                keyPrefix: prefix,
                idleTimeout: idle,
                absoluteLifetime: lifetime,
                touchInterval: touch
            )
            let store =
                if let clock {
                    try RedisSessionStore<Cart>(
                        redis: client,
                        configuration: configuration,
                        logger: Self.logger,
                        now: { clock.now }
                    )
                } else {
                    try RedisSessionStore<Cart>(redis: client, configuration: configuration, logger: Self.logger)
                }
            return try await body(store, client)
        }
    }

    /// Every key under `prefix` (SCAN; tests only).
    static func keys(prefix: String, client: RedisClient) async throws -> [String] {
        var keys: [String] = []
        try await client.scanKeys(matching: prefix + "*") { keys.append(contentsOf: $0) }
        return keys
    }

    static func removeKeys(prefix: String, client: RedisClient) async throws {
        let keys = try await Self.keys(prefix: prefix, client: client)
        // One UNLINK per key: on a Redis Cluster a session and a user index live in different slots.
        if !keys.isEmpty { _ = try await client.pipeline(keys.map { RedisCommand("UNLINK", key: $0) }) }
    }
}

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date = Date()) { self.current = start }

    var now: Date {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.current
    }

    func advance(by seconds: TimeInterval) {
        self.lock.lock()
        self.current += seconds
        self.lock.unlock()
    }
}

/// A `redis-server` of the test's own (for `SCRIPT FLUSH`, which would disturb other tests on the shared one).
final class PrivateRedisServer: @unchecked Sendable {
    let port: Int
    private let process: Process
    private let directory: URL

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    static func start() async throws -> PrivateRedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sessions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let executable else { throw TestFailure("redis-server not found") }
        for _ in 0..<20 {
            let port = Int.random(in: 40_000..<50_000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let server = PrivateRedisServer(port: port, process: process, directory: directory)
            for _ in 0..<100 {
                if !process.isRunning { break }
                if await server.answers() { return server }
                try await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        throw TestFailure("could not start redis-server")
    }

    private func answers() async -> Bool {
        guard var configuration = try? RedisConfiguration(url: self.url) else { return false }
        configuration.connectTimeout = .milliseconds(200)
        let client = RedisClient(configuration: configuration, logger: TestRedis.logger)
        let answered = (try? await client.ping()) != nil
        await client.shutdown()
        return answered
    }

    /// Stops the server with SIGKILL (its data is throw-away), then polls: `waitUntilExit` would block a
    /// cooperative thread. Not SIGTERM: a child spawned from a thread of this process inherits its blocked
    /// signal mask, and redis-server would never see the SIGTERM.
    func stop() async {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        for _ in 0..<250 where self.process.isRunning {
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(at: self.directory)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
