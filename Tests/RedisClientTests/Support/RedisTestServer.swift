import Foundation
import Logging
import RedisClient

/// A `redis-server` process of a test's own, on a free loopback port, for tests that stop, restart or
/// reconfigure the server (fault injection, passwords, ACL users). Tests that only need a server use the
/// shared one (see `TestRedis`).
final class RedisTestServer: @unchecked Sendable {
    let port: Int
    let directory: URL
    private let extraArguments: [String]
    private var process: Process?

    private init(port: Int, directory: URL, extraArguments: [String]) {
        self.port = port
        self.directory = directory
        self.extraArguments = extraArguments
    }

    /// Starts a server with extra `redis-server` arguments (for example `["--requirepass", "secret"]`).
    static func start(_ extraArguments: [String] = []) async throws -> RedisTestServer {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<20 {
            // Below the kernel's ephemeral range (32768 and up), which outgoing connections draw from.
            let port = Int.random(in: 20_000..<32_000)
            let server = RedisTestServer(port: port, directory: directory, extraArguments: extraArguments)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestServerError("could not start redis-server")
    }

    /// Starts the process again on the same port (after ``stop()``).
    func launch() async throws {
        let process = Process()
        process.executableURL = try Self.executable("redis-server")
        process.arguments =
            [
                "--port", "\(self.port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.directory.path, "--logfile", self.directory.appendingPathComponent("redis.log").path,
                "--enable-debug-command", "local",
            ] + self.extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if !process.isRunning { throw TestServerError("redis-server exited (port \(self.port) taken?)") }
            if await self.acceptsConnections() {
                // The server that answered must be this process: when another test's server already holds the
                // port, ours exits on the bind failure, and the test would use a server that vanishes later.
                if try await self.isServedBy(process) { return }
                process.terminate()
                throw TestServerError("port \(self.port) is served by another redis-server")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw TestServerError("redis-server did not start on port \(self.port)")
    }

    /// Stops the server (SIGKILL, so clients see their connections drop without a goodbye).
    func stop() async {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        try? await Self.offPool { process.waitUntilExit() }
        self.process = nil
        // Wait until the port is closed.
        for _ in 0..<100 where await self.acceptsConnections() {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the server and removes its directory.
    func destroy() async {
        await self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    /// Runs `redis-cli` against this server with `arguments`; returns its output.
    @discardableResult
    func cli(_ arguments: [String], password: String? = nil) async throws -> String {
        var all = ["-h", "127.0.0.1", "-p", "\(self.port)"]
        if let password { all += ["--no-auth-warning", "-a", password] }
        return try await Self.run("redis-cli", all + arguments)
    }

    /// Whether `process` is the server answering on the port (by `process_id`; with a password set, by the
    /// process still running a moment after the port answered, as a failed bind exits at once).
    private func isServedBy(_ process: Process) async throws -> Bool {
        let info =
            (try? await Self.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(self.port)", "INFO", "server"])) ?? ""
        if info.contains("process_id:") {
            return info.contains("process_id:\(process.processIdentifier)\r")
                || info.contains("process_id:\(process.processIdentifier)\n")
        }
        try await Task.sleep(for: .milliseconds(100))
        return process.isRunning
    }

    private func acceptsConnections() async -> Bool {
        let reply = (try? await Self.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(self.port)", "PING"])) ?? ""
        return reply.contains("PONG") || reply.contains("NOAUTH")
    }

    /// Runs a command-line tool to completion and returns what it printed. The waiting happens on a Dispatch
    /// thread, never on the Swift concurrency pool (which has only as many threads as cores).
    static func run(_ tool: String, _ arguments: [String]) async throws -> String {
        let url = try self.executable(tool)
        return try await self.offPool { try self.runBlocking(url, arguments) }
    }

    /// Runs blocking work on a Dispatch thread and awaits it.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Result { try work() }) }
        }
        return try result.get()
    }

    private static func runBlocking(_ executable: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private static func executable(_ name: String) throws -> URL {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw TestServerError("\(name) not found; run scripts/services.sh (make test does)")
    }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The shared test server (started by `make test`) and per-test key prefixes.
enum TestRedis {
    static var url: String { ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0" }

    /// Whether `REDIS_URL` names a Redis Cluster (`make test-cluster`): a test that is about one server by nature
    /// is disabled there with `.disabled(if: TestRedis.isCluster, "why")`.
    static var isCluster: Bool { url.hasPrefix("redis+cluster://") || url.hasPrefix("rediss+cluster://") }

    static var configuration: RedisConfiguration {
        // The URL comes from the environment `make test` sets up; a bad one is a setup error worth a crash.
        var configuration = try! RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    /// A prefix no other test (or test run) uses, with a hash tag so multi-key commands stay on one slot.
    static func prefix(_ name: String = #function) -> String {
        "test:{\(name.prefix(40)):\(UUID().uuidString.prefix(8))}:"
    }

    /// Runs `body` with a fresh client, shutting it down afterwards.
    static func withClient<Result>(
        _ configuration: RedisConfiguration = TestRedis.configuration,
        _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "redis-test")
        logger.logLevel = .critical
        let client = RedisClient(configuration: configuration, logger: logger)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}
