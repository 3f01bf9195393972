import Foundation

/// A `redis-server` of a test's own on a free loopback port, which the test can stall (SIGSTOP: connections
/// stay open, commands are accepted and never answered), resume, or kill.
final class FaultyRedisServer: @unchecked Sendable {
    let port: Int
    private let directory: URL
    private let lock = NSLock()
    private var process: Process?

    private init(port: Int, directory: URL) {
        self.port = port
        self.directory = directory
    }

    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    /// Starts a server on a random free port.
    static func start() async throws -> FaultyRedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-lock-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<20 {
            let server = FaultyRedisServer(port: Int.random(in: 20_000..<40_000), directory: directory)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? ServerFailure("could not start redis-server")
    }

    private func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = [
            "--port", "\(self.port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self.directory.path, "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.lock.withLock { self.process = process }
        for _ in 0..<250 {
            if !process.isRunning { throw ServerFailure("redis-server exited (port \(self.port) taken?)") }
            if await self.answers() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Foundation.kill(process.processIdentifier, SIGKILL)
        throw ServerFailure("redis-server did not start on port \(self.port)")
    }

    /// Stops the process (SIGSTOP): it keeps its connections and accepts commands but answers none.
    func stall() {
        self.signal(SIGSTOP)
    }

    /// Lets a stalled process run again (SIGCONT).
    func resume() {
        self.signal(SIGCONT)
    }

    /// Kills the process (SIGKILL): clients see their connections drop, and connecting is refused.
    func kill() async {
        guard let process = self.lock.withLock({ self.process }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        await offPool { process.waitUntilExit() }
        self.lock.withLock { self.process = nil }
    }

    /// Kills the server (stalled or not) and removes its directory.
    func destroy() async {
        await self.kill()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func signal(_ signal: Int32) {
        guard let process = self.lock.withLock({ self.process }) else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    private func answers() async -> Bool {
        let port = self.port
        let output = await offPool { () -> String in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "PING"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return "" }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        return output.contains("PONG")
    }
}

/// Runs blocking work on a Dispatch thread, never on the (small) Swift concurrency pool.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}

struct ServerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
