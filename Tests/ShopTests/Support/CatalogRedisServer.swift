import Foundation

/// A `redis-server` of a test's own on a free loopback port, for tests that stop and restart Redis.
final class CatalogRedisServer: @unchecked Sendable {
    let port: Int
    private let directory: URL
    private let appendOnly: Bool
    private let lock = NSLock()
    private var process: Process?

    private init(port: Int, directory: URL, appendOnly: Bool) {
        self.port = port
        self.directory = directory
        self.appendOnly = appendOnly
    }

    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    /// Starts a server on a random free port; with `appendOnly`, every write is fsynced to an AOF first, so a
    /// restart (even after SIGKILL) loses nothing.
    static func start(appendOnly: Bool = false) async throws -> CatalogRedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "shop-catalog-redis-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<20 {
            let server = CatalogRedisServer(
                port: Int.random(in: 20_000..<40_000),
                directory: directory,
                appendOnly: appendOnly
            )
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? CatalogServerError("could not start redis-server")
    }

    /// Starts the process (again) on the same port.
    func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = [
            "--port", "\(self.port)", "--bind", "127.0.0.1", "--save", "",
            "--appendonly", self.appendOnly ? "yes" : "no", "--appendfsync", "always",
            "--dir", self.directory.path, "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.lock.withLock { self.process = process }
        for _ in 0..<200 {
            if !process.isRunning { throw CatalogServerError("redis-server exited (port \(self.port) taken?)") }
            if await self.answers() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw CatalogServerError("redis-server did not start on port \(self.port)")
    }

    /// Kills the server (SIGKILL: clients see their connections drop) and waits until the port is closed.
    func stop() async {
        guard let process = self.lock.withLock({ self.process }) else { return }
        kill(process.processIdentifier, SIGKILL)
        await catalogOffPool { process.waitUntilExit() }
        self.lock.withLock { self.process = nil }
        for _ in 0..<200 where await self.answers() {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the server and removes its directory.
    func destroy() async {
        await self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `redis-cli` against this server.
    @discardableResult
    func cli(_ arguments: [String]) async -> String {
        let port = self.port
        return await catalogOffPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            process.arguments = ["-h", "127.0.0.1", "-p", "\(port)"] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            guard (try? process.run()) != nil else { return "" }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
    }

    private func answers() async -> Bool {
        await self.cli(["PING"]).contains("PONG")
    }
}

/// Runs blocking work on a Dispatch thread (never on the two threads of the cooperative pool).
func catalogOffPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}

struct CatalogServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
