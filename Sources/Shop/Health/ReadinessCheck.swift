/// One dependency that `GET /health/ready` checks.
public protocol ReadinessCheck: Sendable {
    /// The dependency's name in answers (`postgres`, `redis`).
    var name: String { get }
    /// Returns when the dependency answers; throws when it does not.
    func check() async throws
}

/// The state of one dependency in a readiness answer.
public struct DependencyStatus: Codable, Sendable, Equatable {
    /// `up` or `down`.
    public enum State: String, Codable, Sendable {
        case up
        case down
    }

    /// The dependency's name.
    public var name: String
    /// Whether it answered.
    public var status: State
    /// Why it is down (client-safe: no credentials).
    public var detail: String?

    /// Creates a status.
    /// - Parameters:
    ///   - name: The dependency.
    ///   - status: Up or down.
    ///   - detail: Why it is down.
    public init(name: String, status: State, detail: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
    }
}

/// A check took longer than its timeout.
struct TimeoutError: Error, CustomStringConvertible {
    let duration: Duration
    var description: String { "no answer within \(self.duration.milliseconds) ms" }
}

/// Runs `operation`, cancelling it and throwing ``TimeoutError`` when it takes longer than `timeout`.
func withTimeout<Value: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError(duration: timeout)
        }
        defer { group.cancelAll() }
        guard let value = try await group.next() else { throw CancellationError() }
        return value
    }
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
