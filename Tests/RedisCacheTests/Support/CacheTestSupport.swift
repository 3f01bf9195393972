import Foundation
import Logging
import RedisClient
import Synchronization
import Testing

@testable import RedisCache

/// The shared Redis of the tests (`make test` starts it); `REDIS_URL` points elsewhere.
enum TestRedis {
    static var url: String { ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0" }

    /// A key prefix no other test (or run) uses.
    static func prefix(_ name: String = #function) -> String {
        let cleaned = name.prefix(24).map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return "test:cache:\(String(cleaned)):\(UUID().uuidString.prefix(8)):"
    }

    static var logger: Logger {
        var logger = Logger(label: "redis-cache-tests")
        logger.logLevel = .critical
        return logger
    }
}

/// Runs `body` with `count` independent managers (each with its own `RedisClient`, as separate processes would
/// have) on one prefix; with `running`, each manager's `run()` is active (fill announcements, refreshes).
/// Afterwards the managers stop, the clients shut down and the prefix's keys are deleted.
func withManagers<Result: Sendable>(
    _ count: Int = 1,
    url: String = TestRedis.url,
    prefix: String = TestRedis.prefix(),
    running: Bool = true,
    configure: (inout RedisCacheConfiguration) -> Void = { _ in },
    _ body: @Sendable ([RedisCacheManager]) async throws -> Result
) async throws -> Result {
    var configuration = RedisCacheConfiguration()
    configuration.keyPrefix = prefix
    // Generous for a loaded test machine; fail-open tests shorten it.
    configuration.operationTimeout = .seconds(2)
    configure(&configuration)
    let clients = try (0..<count).map { _ in
        var redis = try RedisConfiguration(url: url)
        redis.commandTimeout = .seconds(10)
        return RedisClient(configuration: redis, logger: TestRedis.logger)
    }
    let managers = try clients.map { client in
        try RedisCacheManager(client: client, configuration: configuration, logger: TestRedis.logger)
    }
    let result: Swift.Result<Result, any Error> = await withTaskGroup(of: Void.self) { group in
        if running {
            for manager in managers {
                group.addTask { try? await manager.run() }
            }
            // Let the subscriptions start, so announcements are received from the first fill on. On a cluster
            // under the whole suite's load a subscription has taken over 7 s; a test that went on without it got
            // no announcement and failed on the symptom instead of saying why.
            // Tests on another URL (a Redis where nothing listens, a proxy they cut) may expect no subscription:
            // they wait 10 s at most, as before, and are not failed for it.
            let shared = url == TestRedis.url
            for manager in managers {
                let listening = await eventually(within: .seconds(shared ? 60 : 10)) { manager.isListening }
                if shared { #expect(listening, "the cache manager's fill subscription did not start within 60 s") }
            }
        }
        let result: Swift.Result<Result, any Error>
        do {
            result = .success(try await body(managers))
        } catch {
            result = .failure(error)
        }
        group.cancelAll()
        await group.waitForAll()
        return result
    }
    if url == TestRedis.url {
        try? await deleteKeys(prefix: prefix, client: clients[0])
    }
    for client in clients { await client.shutdown() }
    return try result.get()
}

/// Deletes every key of `prefix`.
func deleteKeys(prefix: String, client: RedisClient) async throws {
    try await client.scanKeys(matching: RedisGlob.escaping(prefix) + "*") { keys in
        _ = try await client.pipeline(keys.map { RedisCommand("UNLINK", key: $0) })
    }
}

/// Polls `condition` until it holds or `timeout` passes (the timeout only matters when the test fails).
func eventually(
    within timeout: Duration = .seconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

/// A stand-in for the database: values by key, a count of reads, an optional delay per read.
final class SourceOfTruth: Sendable {
    private let values = Mutex<[String: String]>([:])
    private let reads = Atomic<Int>(0)
    private let delay: Duration

    init(_ values: [String: String] = [:], delay: Duration = .zero) {
        self.values.withLock { $0 = values }
        self.delay = delay
    }

    /// Reads a value (counted).
    func read(_ key: String) async throws -> String? {
        self.reads.add(1, ordering: .relaxed)
        if self.delay > .zero { try await Task.sleep(for: self.delay) }
        return self.values.withLock { $0[key] }
    }

    func write(_ key: String, _ value: String?) {
        self.values.withLock { $0[key] = value }
    }

    var readCount: Int { self.reads.load(ordering: .relaxed) }
}

/// A one-shot barrier: `wait()` suspends until `open()`.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = self.state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = self.state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// The Redis Cluster hash slot of a key (CRC16/XMODEM of the hash tag, or of the whole key), to check that keys
/// used together by one script would live on one node.
func clusterSlot(_ key: String) -> Int {
    var bytes = Array(key.utf8)
    if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
        let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
    {
        bytes = Array(bytes[(open + 1)..<close])
    }
    var crc: UInt16 = 0
    for byte in bytes {
        crc ^= UInt16(byte) << 8
        for _ in 0..<8 {
            crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
    }
    return Int(crc) % 16384
}

/// A counter tasks can share.
final class Counter: Sendable {
    private let count = Atomic(0)

    /// Adds one and returns the new value.
    @discardableResult
    func increment() -> Int { self.count.add(1, ordering: .relaxed).newValue }

    var value: Int { self.count.load(ordering: .relaxed) }
}
