import Logging
import Resilience
import Synchronization

/// A small seeded generator (SplitMix64), so jittered delays are reproducible.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A provider failure for tests.
struct ProviderError: RetryableError, Equatable {
    var status: Int
    var retryAfter: Duration?
    var wasNotProcessed = false

    var isRetryable: Bool { self.status >= 500 || self.status == 429 }

    static let unavailable = Self(status: 503)
    static let notFound = Self(status: 404)
}

/// An error the default classifier knows nothing about.
struct OpaqueError: Error {}

/// Counts calls and tracks the highest concurrency seen.
final class Probe: Sendable {
    private struct State {
        var calls = 0
        var running = 0
        var maxRunning = 0
        var cancellations = 0
    }

    private let state = Mutex(State())

    var calls: Int { self.state.withLock { $0.calls } }
    var running: Int { self.state.withLock { $0.running } }
    var maxRunning: Int { self.state.withLock { $0.maxRunning } }
    var cancellations: Int { self.state.withLock { $0.cancellations } }

    /// Counts a call; returns its number (1 for the first).
    @discardableResult
    func called() -> Int {
        self.state.withLock {
            $0.calls += 1
            return $0.calls
        }
    }

    /// Runs `body` counted as running.
    func running<T>(_ body: () async throws -> T) async rethrows -> T {
        self.state.withLock {
            $0.calls += 1
            $0.running += 1
            $0.maxRunning = max($0.maxRunning, $0.running)
        }
        defer { self.state.withLock { $0.running -= 1 } }
        return try await body()
    }

    func sawCancellation() {
        self.state.withLock { $0.cancellations += 1 }
    }
}

/// Values appended from any task.
final class Recorded<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    var all: [Value] { self.values.withLock { $0 } }

    func append(_ value: Value) {
        self.values.withLock { $0.append(value) }
    }
}

/// Suspends until the task is cancelled (a provider that never answers), then throws `CancellationError`.
func hangUntilCancelled(_ probe: Probe? = nil) async throws -> Never {
    let (stream, continuation) = AsyncStream<Never>.makeStream()
    for await _ in stream {}
    withExtendedLifetime(continuation) {}
    probe?.sawCancellation()
    throw CancellationError()
}

/// Log lines captured from the code under test.
final class CapturedLogs: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let lines = Mutex<[Line]>([])

    var logger: Logger {
        var logger = Logger(label: "resilience-test") { _ in CapturedLogHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    var all: [Line] { self.lines.withLock { $0 } }

    fileprivate func append(_ line: Line) {
        self.lines.withLock { $0.append(line) }
    }
}

private struct CapturedLogHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.sink.append(
            CapturedLogs.Line(level: event.level, message: "\(event.message)", metadata: event.metadata ?? [:])
        )
    }
}

/// A logger that drops everything.
let silentLogger = Logger(label: "resilience-test-silent") { _ in SwiftLogNoOpLogHandler() }

extension ManualClock {
    /// Waits for `count` sleepers, then moves to the earliest deadline.
    /// - Returns: How far the time moved.
    @discardableResult
    func advanceWhenSleeping(_ count: Int = 1) async throws -> Duration {
        try await self.waitForSleepers(count)
        return self.advanceToNextDeadline() ?? .zero
    }
}

/// How a task ended. Cancelling the waiting test (its time limit) cancels the task, so a test whose code
/// under test hangs fails instead of hanging the run.
func result<T>(of task: Task<T, any Error>) async -> Result<T, any Error> {
    await withTaskCancellationHandler {
        await task.result
    } onCancel: {
        task.cancel()
    }
}

/// The value of a task (see ``result(of:)``).
func value<T>(of task: Task<T, any Error>) async throws -> T {
    try await result(of: task).get()
}

/// The error a throwing task ended with, or nil (see ``result(of:)``).
func failure<T>(of task: Task<T, any Error>) async -> (any Error)? {
    switch await result(of: task) {
    case .success: nil
    case .failure(let error): error
    }
}

/// The `ResilienceError` code an error has, if it is one.
func code(_ error: (any Error)?) -> ResilienceError.Code? {
    (error as? ResilienceError)?.code
}
