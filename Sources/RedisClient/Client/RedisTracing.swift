import Tracing

/// The spans of the client's commands, through swift-distributed-tracing (a no-op until the application bootstraps
/// a tracer), named and attributed after OpenTelemetry's database conventions.
///
/// One `CLIENT` span per logical call: a command (named after it: `GET`, `EVALSHA`), a pipeline (`PIPELINE`) or a
/// transaction (`MULTI`), covering its retries and cluster redirections. Attributes: `db.system` and
/// `db.system.name` (`redis`), `db.operation.name`, `db.operation.batch.size` for pipelines and transactions,
/// `db.namespace` (the database number), and `server.address`/`server.port` on a single server. Argument values
/// (keys, payloads) are never recorded. A failed call records its error on the span.
///
/// Commands are traced only inside an operation that is (a task with a current `ServiceContext`: a request, a
/// consumer's handler run, a scheduler run); the client's own background commands and the polls of consumers,
/// heartbeats and lock renewals outside any span would each start a trace of one span, and are not recorded.
struct RedisTracing: Sendable {
    private let namespace: String
    private let server: (address: String, port: Int)?

    init(configuration: RedisConfiguration) {
        self.namespace = String(configuration.database)
        if case .standalone = configuration.topology {
            self.server = (configuration.host, configuration.port)
        } else {
            self.server = nil
        }
    }

    /// Runs `body` inside a span for `operation`.
    func withSpan<Result>(
        _ operation: String,
        batchSize: Int? = nil,
        _ body: () async throws -> Result
    ) async throws -> Result {
        // Only inside a traced operation: background polls, heartbeats and renewals would each be a trace.
        guard ServiceContext.current != nil else { return try await body() }
        return try await Tracing.withSpan(operation, ofKind: .client) { span in
            if span.isRecording {
                span.attributes["db.system"] = "redis"
                span.attributes["db.system.name"] = "redis"
                span.attributes["db.operation.name"] = operation
                span.attributes["db.namespace"] = self.namespace
                if let batchSize { span.attributes["db.operation.batch.size"] = batchSize }
                if let server = self.server {
                    span.attributes["server.address"] = server.address
                    span.attributes["server.port"] = server.port
                }
            }
            return try await body()
        }
    }
}
