import Foundation
import RedisClient

/// A six-node Redis Cluster of a test's own (three primaries, a replica each), started with
/// `scripts/redis-cluster.sh` on free loopback ports and always stopped by ``withRedisCluster(_:)``.
final class RedisClusterFixture: Sendable {
    let basePort: Int
    let directory: URL
    /// `redis+cluster://` with the three seeds the script printed.
    let url: String

    private init(basePort: Int, directory: URL, url: String) {
        self.basePort = basePort
        self.directory = directory
        self.url = url
    }

    /// Every node's port.
    var ports: [Int] { Array(self.basePort..<(self.basePort + 6)) }

    static var script: String { self.repositoryScript("redis-cluster.sh") }

    static func repositoryScript(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/\(name)").path
    }

    /// Starts a cluster, runs `body`, stops the cluster (also when `body` throws).
    /// - Parameters:
    ///   - basePorts: Where the first node's port is picked at random (a suite may keep a range of its own); the
    ///     nodes and their bus ports (+10000) must stay below the kernel's ephemeral range (32768 and up).
    ///   - body: The test.
    static func withRedisCluster<Result>(
        basePorts: Range<Int> = 20_000..<22_700,
        _ body: (RedisClusterFixture) async throws -> Result
    ) async throws -> Result {
        let cluster = try await Self.start(basePorts: basePorts)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    private static func start(basePorts: Range<Int>) async throws -> RedisClusterFixture {
        var lastOutput = ""
        for _ in 0..<5 {
            // Nodes and their bus ports (+10000) stay below the kernel's ephemeral range (32768 and up).
            let base = Int.random(in: basePorts)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cluster-\(UUID())")
            let output = try await Self.runScript(["start", "\(base)", directory.path])
            lastOutput = output
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("REDIS_URL=") }) {
                return RedisClusterFixture(
                    basePort: base,
                    directory: directory,
                    url: String(line.dropFirst("REDIS_URL=".count))
                )
            }
            _ = try? await Self.runScript(["stop", "\(base)", directory.path])
            try? FileManager.default.removeItem(at: directory)
        }
        throw TestServerError("could not start a Redis Cluster: \(lastOutput.suffix(2000))")
    }

    /// Runs the script to completion with `posix_spawn` and `waitpid`, its output in a file. (Foundation's `Process`
    /// never saw this script end: it starts daemons, and `waitUntilExit` hung with the script a zombie.)
    static func runScript(_ arguments: [String], script: String = RedisClusterFixture.script) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cluster-\(UUID()).log").path
        let argv = ["/bin/bash", "-c", "exec bash \"$0\" \"$@\" >'\(output)' 2>&1 </dev/null", script] + arguments
        let status = try await RedisTestServer.offPool { () throws -> Int32 in
            var pid: pid_t = 0
            var cArguments = argv.map { strdup($0) } + [nil]
            defer { for pointer in cArguments { free(pointer) } }
            let spawned = posix_spawn(&pid, "/bin/bash", nil, nil, &cArguments, environ)
            guard spawned == 0 else { throw TestServerError("posix_spawn failed: \(spawned)") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 {
                guard errno == EINTR else { throw TestServerError("waitpid failed: \(errno)") }
            }
            return status
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: output)
        _ = status
        return text
    }

    func stop() async {
        _ = try? await Self.runScript(["stop", "\(self.basePort)", self.directory.path])
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `redis-cli` against one node.
    @discardableResult
    func cli(_ port: Int, _ arguments: [String]) async throws -> String {
        try await RedisTestServer.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(port)"] + arguments)
    }

    /// The port of the primary that serves `key`'s slot now, as a live node's `CLUSTER NODES` says (not our client).
    func primaryPort(forKey key: String, askingNode: Int? = nil) async throws -> Int {
        let node = askingNode ?? self.basePort
        let keySlot = try await self.cli(node, ["CLUSTER", "KEYSLOT", key]).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        guard let slot = Int(keySlot) else { throw TestServerError("CLUSTER KEYSLOT answered \(keySlot)") }
        let nodes = try await self.cli(node, ["CLUSTER", "NODES"])
        for line in nodes.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[2].contains("master"), !fields[2].contains("fail") else { continue }
            let address = fields[1].split(separator: "@")[0]
            guard let port = address.split(separator: ":").last.flatMap({ Int($0) }) else { continue }
            for range in fields.dropFirst(8) {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2, (bounds[0]...bounds[1]).contains(slot) { return port }
                if bounds.count == 1, bounds[0] == slot { return port }
            }
        }
        throw TestServerError("no primary serves the slot of \(key)")
    }

    /// The pid of the node on `port` (from its pid file).
    func pid(of port: Int) throws -> Int32 {
        let file = self.directory.appendingPathComponent("node-\(port)")
        let names = try FileManager.default.contentsOfDirectory(atPath: file.path).filter { $0.hasSuffix(".pid") }
        guard let name = names.first,
            let text = try? String(contentsOf: file.appendingPathComponent(name), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw TestServerError("no pid file for the node on \(port)") }
        return pid
    }

    /// Kills the node on `port` with SIGKILL (no goodbye, as a crash).
    func kill(_ port: Int) throws {
        Foundation.kill(try self.pid(of: port), SIGKILL)
    }
}
