import Tracing

/// The spans of lock operations (a no-op until the application bootstraps a tracer): `lock acquire` (the wait
/// included: `lock.attempts`, `lock.fencing_token` when taken, an error when the wait ran out), `lock try-acquire`
/// (`lock.acquired`), and `lock hold` from acquisition to release around the work done under the lock (an error
/// when the lease was lost). Each has `lock.name`. Like Redis command spans, only inside a traced operation (a
/// current `ServiceContext`): a scheduler's tick attempts outside any run are not recorded.
///
/// The spans are started and ended around the operation without becoming the task's current context: the lock's
/// own scripts (`EVALSHA`) and renewals stay spans of the caller, beside the lock span rather than inside it, and
/// no task-local value is pushed on the lock's paths.
enum LockTracing {
    /// Starts `lock <operation>` as a child of the current context, or returns nil outside a traced operation or
    /// when the tracer does not record it.
    static func start(_ operation: String, lock name: String) -> (any Span)? {
        guard let context = ServiceContext.current else { return nil }
        let span = InstrumentationSystem.tracer.startAnySpan("lock \(operation)", context: context, ofKind: .internal)
        guard span.isRecording else {
            span.end()
            return nil
        }
        span.attributes["lock.name"] = name
        return span
    }
}
