import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresNIO
import Shop
import Testing

/// A real `shop serve` process (the binary beside the test bundle), for what only separate processes can show:
/// `kill -9` in the middle of work, SIGTERM under load.
final class ShopProcess: @unchecked Sendable {
    let instance: String
    let port: Int
    private let process: Process

    /// Starts `shop serve` with the test's settings and waits until it answers `/health/live`.
    /// - Parameters:
    ///   - instance: `INSTANCE_ID` (also the queue consumer's name).
    ///   - environment: The test's settings (database, Redis, key prefixes) and overrides.
    init(instance: String, environment: [String: String]) async throws {
        self.instance = instance
        let port = try await closedPort()
        self.port = port
        let process = Process()
        // The test runner blocks SIGTERM, and a child inherits that mask; start through Python to clear it, so
        // the service sees SIGTERM exactly as under a process manager.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
            try ExecutableTests.executable().path, "serve",
        ]
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        env["HTTP_PORT"] = String(port)
        env["INSTANCE_ID"] = instance
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "error"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        for _ in 0..<300 {
            guard process.isRunning else { throw ProcessFailed("shop serve (\(instance)) exited at start") }
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/live")
            if let response = try? await http.execute(request, timeout: .seconds(1)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        self.kill()
        throw ProcessFailed("shop serve (\(instance)) did not start")
    }

    /// `kill -9`: no graceful shutdown, no cleanup.
    func kill() {
        guard self.process.isRunning else { return }
        Foundation.kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    /// SIGTERM, then waits (off the cooperative pool) until the process exits; returns its status.
    func terminate() async -> Int32 {
        guard self.process.isRunning else { return self.process.terminationStatus }
        Foundation.kill(self.process.processIdentifier, SIGTERM)
        let process = self.process
        await catalogOffPool { process.waitUntilExit() }
        return process.terminationStatus
    }

    var isRunning: Bool { self.process.isRunning }

    /// The process's resident memory, from `/proc/<pid>/statm` (0 when it cannot be read).
    var residentBytes: Int {
        let path = "/proc/\(self.process.processIdentifier)/statm"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    struct ProcessFailed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The environment that gives `shop serve` processes a test's own database and Redis keys.
func processEnvironment(
    database: DatabaseURL,
    redisURL: String,
    prefix: String,
    extra: [String: String] = [:]
) -> [String: String] {
    var url = "postgres://\(database.user)"
    if let password = database.password { url += ":\(password)" }
    url += "@\(database.host):\(database.port)/\(database.database)"
    var environment = [
        "DATABASE_URL": url,
        "REDIS_URL": redisURL,
        "SESSION_KEY_PREFIX": prefix + "auth:",
        "CACHE_KEY_PREFIX": prefix + "cache:",
        "ORDERS_KEY_PREFIX": prefix + "orders:",
        "JOBS_KEY_PREFIX": prefix + "jobs:",
        "QUEUE_KEY_PREFIX": prefix + "queue:",
        "NOTIFICATIONS_CHANNEL": prefix + "notify",
        "JOBS_ENABLED": "false",
        "PASSWORD_HASH_COST": "4",
        "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "10000",
    ]
    environment.merge(extra) { $1 }
    return environment
}

/// Runs `body`, killing the processes afterwards whatever happens.
func withShopProcesses<T: Sendable>(_ processes: [ShopProcess], _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        for process in processes { process.kill() }
        return result
    } catch {
        for process in processes { process.kill() }
        throw error
    }
}
