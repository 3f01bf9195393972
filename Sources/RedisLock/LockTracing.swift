import Tracing

/// The spans of lock operations (a no-op until the application bootstraps a tracer): `lock acquire` (the wait
/// included: `lock.attempts`, `lock.fencing_token` when taken, an error when the wait ran out), `lock try-acquire`
/// (`lock.acquired`), and `lock hold` around the work done under the lock (its renewals are children; an error when
/// the lease was lost). Each has `lock.name`. Like Redis command spans, only inside a traced operation (a current
/// `ServiceContext`): a scheduler's tick attempts outside any run are not recorded.
enum LockTracing {
    static func withSpan<Result>(
        _ operation: String,
        lock name: String,
        _ body: (_ span: (any Span)?) async throws -> Result
    ) async throws -> Result {
        guard ServiceContext.current != nil else { return try await body(nil) }
        return try await Tracing.withSpan("lock \(operation)", ofKind: .internal) { span in
            guard span.isRecording else { return try await body(nil) }
            span.attributes["lock.name"] = name
            return try await body(span)
        }
    }
}
