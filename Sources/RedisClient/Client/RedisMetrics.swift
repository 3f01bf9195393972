import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// Command latency and error metrics, through swift-metrics (a no-op until the app bootstraps a backend).
///
/// - `redis_command_duration_seconds` (timer), dimension `command`.
/// - `redis_command_errors_total` (counter), dimensions `command` and `code`.
final class RedisMetrics: Sendable {
    private struct Instruments {
        var timers: [String: Timer] = [:]
        var errors: [String: Counter] = [:]
    }

    /// Beyond this many distinct command names, new names are reported as `other`.
    private static let maxCommandNames = 256
    private let instruments = NIOLockedValueBox(Instruments())

    func recordSuccess(command: String, since start: NIODeadline) {
        self.timer(for: command).recordNanoseconds(
            Int64(NIODeadline.now().uptimeNanoseconds &- start.uptimeNanoseconds)
        )
    }

    func recordFailure(command: String, since start: NIODeadline, error: any Error) {
        self.recordSuccess(command: command, since: start)
        let code = (error as? RedisError)?.code.description ?? (error is CancellationError ? "cancelled" : "other")
        self.errorCounter(command: command, code: code).increment()
    }

    private func timer(for command: String) -> Timer {
        self.instruments.withLockedValue { instruments in
            if let timer = instruments.timers[command] { return timer }
            let name = instruments.timers.count < Self.maxCommandNames ? command.uppercased() : "other"
            let timer = Timer(label: "redis_command_duration_seconds", dimensions: [("command", name)])
            instruments.timers[command] = timer
            return timer
        }
    }

    private func errorCounter(command: String, code: String) -> Counter {
        let key = "\(command) \(code)"
        return self.instruments.withLockedValue { instruments in
            if let counter = instruments.errors[key] { return counter }
            let name = instruments.errors.count < Self.maxCommandNames ? command.uppercased() : "other"
            let counter = Counter(label: "redis_command_errors_total", dimensions: [("command", name), ("code", code)])
            instruments.errors[key] = counter
            return counter
        }
    }
}
