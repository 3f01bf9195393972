import Foundation
import RedisClient
import Testing

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
///
/// The timeout is generous because it only matters when the test fails: in a full parallel run, test support that
/// blocks cooperative threads can stall every task of this process for seconds.
/// - Returns: Whether the condition held in time.
func waitUntil(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Runs `body` with a client of a private `redis-server` (for commands that affect the whole server), and
/// destroys the server afterwards, also when `body` throws.
///
/// Starting and stopping the server waits for processes synchronously, so it runs on ``BlockingWorkExecutor``
/// instead of holding one of the (two, on this machine) cooperative threads that every other test needs.
func withPrivateServer<Result>(
    _ arguments: [String] = [],
    _ body: (RedisTestServer, RedisClient) async throws -> Result
) async throws -> Result {
    let server = try await withTaskExecutorPreference(BlockingWorkExecutor.shared) {
        try await RedisTestServer.start(arguments)
    }
    do {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(10)
        let result = try await TestRedis.withClient(configuration) { client in try await body(server, client) }
        await withTaskExecutorPreference(BlockingWorkExecutor.shared) { await server.destroy() }
        return result
    } catch {
        await withTaskExecutorPreference(BlockingWorkExecutor.shared) { await server.destroy() }
        throw error
    }
}

/// A task executor on a thread of its own, for test-support code that blocks (process launches and waits).
final class BlockingWorkExecutor: TaskExecutor, Sendable {
    static let shared = BlockingWorkExecutor()
    private let queue = DispatchQueue(label: "redis-client-tests.blocking-work")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = self.asUnownedTaskExecutor()
        self.queue.async { job.runSynchronously(on: executor) }
    }
}

/// A configuration for the shared server whose connections carry `name` in `CLIENT LIST`.
func namedConfiguration(_ name: String) -> RedisConfiguration {
    var configuration = TestRedis.configuration
    configuration.clientName = name
    return configuration
}

/// A unique client name for `CLIENT LIST` lookups.
func uniqueClientName(_ label: String) -> String {
    "test-\(label)-\(UUID().uuidString.prefix(8))"
}

/// The `CLIENT LIST` lines of the connections named `name`, each parsed into its `field=value` pairs.
///
/// `CLIENT LIST` describes one server: on a Redis Cluster, pass `nodeOf`, a key the connections work on, to ask
/// the node that owns it.
func clientsNamed(
    _ name: String,
    on client: some RedisCommands,
    nodeOf routingKey: String? = nil
) async throws -> [[String: String]] {
    var command = RedisCommand("CLIENT", "LIST")
    if let routingKey { command.recordKey(routingKey) }
    let text = try await client.send(command).decode(as: String.self)
    return text.split(whereSeparator: \.isNewline).compactMap { line in
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            fields[String(pair[0])] = String(pair[1])
        }
        return fields["name"] == name ? fields : nil
    }
}

extension RedisCommands {
    /// `PTTL key`, raw, to check the helpers that set expirations.
    func pttl(_ key: String) async throws -> Int {
        try await self.send(RedisCommand("PTTL", key: key)).decode(as: Int.self)
    }
}

/// Expects `key` to expire `expected` after a write made after `start`: its PTTL is at most `expected`, and at least
/// `expected` minus the time that passed since `start` (so a busy machine cannot make the check fail).
func expectExpiration(
    of key: String,
    on client: some RedisCommands,
    setFor expected: Duration,
    since start: ContinuousClock.Instant,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let pttl = try await client.pttl(key)
    let elapsed = start.duration(to: .now)
    let upper = Int(expected / .milliseconds(1))
    let lower = Int((expected - elapsed) / .milliseconds(1)) - 2
    #expect(
        pttl <= upper && pttl >= lower,
        "PTTL \(pttl) ms, expected \(lower)...\(upper)",
        sourceLocation: sourceLocation
    )
}
