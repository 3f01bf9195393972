import PostgresNIO
import Tracing

/// The spans of ``Database`` calls (postgres-nio 1.33 has no tracing of its own), after OpenTelemetry's database
/// conventions: `CLIENT` spans with `db.system`/`db.system.name` `postgresql`, the database name, and
/// `db.operation.name` — `TRANSACTION` for ``Database/transaction(logger:_:)`` (the queries inside it are not
/// spans of their own), the statement's first keyword (`SELECT`, `UPDATE`) for ``Database/query(_:logger:)``, whose
/// parameterised text (values are bound, never in it) is `db.query.text`. As for Redis commands, only calls inside
/// a traced operation (a current `ServiceContext`) are spans: the relay's and the jobs' polls are not.
struct DatabaseTracing: Sendable {
    let databaseName: String?

    func withSpan<Result>(
        _ operation: String,
        queryText: String? = nil,
        _ body: () async throws -> Result
    ) async throws -> Result {
        // Only inside a traced operation: background polls, heartbeats and renewals would each be a trace.
        guard ServiceContext.current != nil else { return try await body() }
        return try await Tracing.withSpan(operation, ofKind: .client) { span in
            if span.isRecording {
                span.attributes["db.system"] = "postgresql"
                span.attributes["db.system.name"] = "postgresql"
                span.attributes["db.operation.name"] = operation
                if let databaseName = self.databaseName { span.attributes["db.namespace"] = databaseName }
                if let queryText { span.attributes["db.query.text"] = queryText }
            }
            return try await body()
        }
    }

    /// The first keyword of a statement, upper-cased (`QUERY` when there is none).
    static func operation(of sql: String) -> String {
        let keyword = sql.drop { $0.isWhitespace || $0 == "(" }.prefix { $0.isLetter }
        return keyword.isEmpty ? "QUERY" : keyword.uppercased()
    }
}
