import Foundation
import RedisClient
import Testing

/// A `scheduler-demo` process (built beside the test bundle): a real, separate instance with its own Redis
/// connections and its own concurrency pool, which a test can kill with SIGKILL.
final class DemoProcess: @unchecked Sendable {
    let instance: String
    private let process: Process

    init(instance: String, prefix: String, environment extra: [String: String] = [:]) throws {
        self.instance = instance
        let process = Process()
        process.executableURL = try Self.executable()
        var environment = ProcessInfo.processInfo.environment
        environment["KEY_PREFIX"] = prefix
        environment["INSTANCE"] = instance
        environment["REDIS_URL"] = environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// Kills the process at once: no graceful shutdown, no lock release — as when a machine dies.
    func kill() {
        guard self.process.isRunning else { return }
        Foundation.kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    var isRunning: Bool { self.process.isRunning }

    static func executable() throws -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.pathComponents.count > 1 {
            let candidate = directory.appendingPathComponent("scheduler-demo")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw DemoMissing()
    }

    struct DemoMissing: Error, CustomStringConvertible {
        var description: String { "scheduler-demo was not found beside the test bundle; run `swift build` first" }
    }
}

/// Runs `body` with demo processes, killing them afterwards whatever happens.
func withDemoProcesses<T: Sendable>(
    _ processes: [DemoProcess],
    _ body: () async throws -> T
) async throws -> T {
    do {
        let result = try await body()
        for process in processes { process.kill() }
        return result
    } catch {
        for process in processes { process.kill() }
        throw error
    }
}

/// One run as the demo records it: "<tick ms> <instance> <start ms>".
struct DemoRun: Sendable, Hashable {
    let tick: Int64
    let instance: String
    let startedAt: Int64

    static func all(_ client: RedisClient, prefix: String) async throws -> [DemoRun] {
        let lines = try await client.send(RedisCommand("LRANGE", key: prefix + "runs", "0", "-1")).decode(
            as: [String].self
        )
        return lines.compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let tick = Int64(parts[0]), let started = Int64(parts[2]) else { return nil }
            return DemoRun(tick: tick, instance: String(parts[1]), startedAt: started)
        }
    }
}
