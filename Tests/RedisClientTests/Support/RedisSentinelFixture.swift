import Foundation

/// A primary, a replica and three sentinels of a test's own (`scripts/redis-sentinel.sh`, master name `shop`), on
/// free loopback ports, always stopped by ``withRedisSentinel(_:)``.
final class RedisSentinelFixture: Sendable {
    let basePort: Int
    let directory: URL
    /// `redis+sentinel://…/shop` as the script printed it.
    let url: String

    private init(basePort: Int, directory: URL, url: String) {
        self.basePort = basePort
        self.directory = directory
        self.url = url
    }

    /// The two data servers' ports (the primary at first, then the replica).
    var serverPorts: [Int] { [self.basePort, self.basePort + 1] }
    /// The sentinels' ports.
    var sentinelPorts: [Int] { (0..<3).map { self.basePort + 20_000 + $0 } }

    static let script = RedisClusterFixture.repositoryScript("redis-sentinel.sh")

    /// Starts the set, runs `body`, stops the set (also when `body` throws).
    static func withRedisSentinel<Result>(_ body: (RedisSentinelFixture) async throws -> Result) async throws -> Result
    {
        var lastOutput = ""
        for _ in 0..<5 {
            // Servers and sentinels (+20000) stay below the kernel's ephemeral range (32768 and up).
            let base = Int.random(in: 10_000..<12_700)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-sentinel-\(UUID())")
            let output = try await RedisClusterFixture.runScript(
                ["start", "\(base)", directory.path],
                script: Self.script
            )
            lastOutput = output
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("REDIS_URL=") }) else {
                _ = try? await RedisClusterFixture.runScript(["stop", "\(base)", directory.path], script: Self.script)
                try? FileManager.default.removeItem(at: directory)
                continue
            }
            let fixture = RedisSentinelFixture(
                basePort: base,
                directory: directory,
                url: String(line.dropFirst("REDIS_URL=".count))
            )
            do {
                let result = try await body(fixture)
                await fixture.stop()
                return result
            } catch {
                await fixture.stop()
                throw error
            }
        }
        throw TestServerError("could not start Redis Sentinel: \(lastOutput.suffix(2000))")
    }

    func stop() async {
        _ = try? await RedisClusterFixture.runScript(
            ["stop", "\(self.basePort)", self.directory.path],
            script: Self.script
        )
        try? FileManager.default.removeItem(at: self.directory)
    }

    @discardableResult
    func cli(_ port: Int, _ arguments: [String]) async throws -> String {
        try await RedisTestServer.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(port)"] + arguments)
    }

    /// The port of the server that says it is the primary now (`ROLE`).
    func primaryPort() async throws -> Int? {
        for port in self.serverPorts where (try? await self.cli(port, ["ROLE"]))?.hasPrefix("master") == true {
            return port
        }
        return nil
    }

    /// The port of the primary the sentinels name now (after a failover the old primary may still say `master` for a
    /// while, until a sentinel reconfigures it).
    func sentinelPrimaryPort() async throws -> Int? {
        let reply = try await self.cli(self.sentinelPorts[0], ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "shop"])
        return reply.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Kills a data server with SIGKILL (its pid file is in `DIR/redis-<port>/`).
    func kill(_ port: Int) throws {
        let folder = self.directory.appendingPathComponent("redis-\(port)")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".pid") }
        guard let name = names.first,
            let text = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw TestServerError("no pid file for the server on \(port)") }
        Foundation.kill(pid, SIGKILL)
    }
}
