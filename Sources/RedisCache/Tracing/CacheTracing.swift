import Tracing

/// The span of a cache read, `cache get <namespace>` (a no-op until the application bootstraps a tracer; only inside
/// a traced operation, like Redis command spans): `cache.namespace`, and `cache.outcome` — `hit`, `stale` (served
/// while a refresh runs), `miss` (loaded here), or `coalesced` (joined another caller's load in this process) —
/// with `cache.waited` when it waited for another instance's fill, and `cache.redis_error` when Redis failed and the
/// source was read instead. The loader's own spans (a database query) are its children. Keys are not recorded.
enum CacheTracing {
    /// The span of the read this task is doing, for the outcome to be noted on.
    @TaskLocal static var span: (any Span)?

    static func withSpan<Result>(namespace: String, _ body: () async throws -> Result) async throws -> Result {
        guard ServiceContext.current != nil else { return try await body() }
        return try await Tracing.withSpan("cache get \(namespace)", ofKind: .internal) { span in
            guard span.isRecording else { return try await body() }
            span.attributes["cache.namespace"] = namespace
            return try await Self.$span.withValue(span) { try await body() }
        }
    }

    static func outcome(_ outcome: String) {
        Self.span?.attributes["cache.outcome"] = outcome
    }

    static func flag(_ attribute: String) {
        Self.span?.attributes[attribute] = true
    }
}
