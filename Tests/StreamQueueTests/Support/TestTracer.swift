import Synchronization
import Tracing

/// A tracer for tests that share one process with every other suite: it is bootstrapped once, and it records only
/// the traces a test opened with ``startTrace()``. Spans of other traces do not record (`isRecording` is false, so
/// the libraries skip their attributes and never inject a context), and its propagation header (`test-trace`) is
/// one no other code writes, so the rest of the run behaves as with no tracer.
final class TestTracer: Tracer {
    typealias Span = TestSpan

    /// What a span is, when it ended.
    struct FinishedSpan: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String?
        var name: String
        var kind: SpanKind
        var attributes: SpanAttributes
        var links: [String]
        var isError: Bool
    }

    /// The ids a context carries.
    struct SpanIDs: Sendable, Hashable {
        var traceID: String
        var spanID: String
    }

    private enum SpanIDsKey: ServiceContextKey {
        typealias Value = SpanIDs
    }

    static let shared: TestTracer = {
        InstrumentationSystem.bootstrap(TestTracer())
        return (InstrumentationSystem.tracer as? TestTracer)!
    }()

    private struct State {
        var recordedTraces: Set<String> = []
        var finished: [FinishedSpan] = []
    }

    private let state = Mutex(State())
    private static let headerName = "test-trace"

    private init() {}

    /// A context that starts a recorded trace: spans started in it (and in contexts propagated from it) are kept.
    func startTrace() -> ServiceContext {
        let ids = SpanIDs(traceID: Self.newID(), spanID: Self.newID())
        self.state.withLock { _ = $0.recordedTraces.insert(ids.traceID) }
        var context = ServiceContext.topLevel
        context[SpanIDsKey.self] = ids
        return context
    }

    /// The finished spans of one trace, in the order they ended.
    func spans(of context: ServiceContext) -> [FinishedSpan] {
        guard let traceID = context[SpanIDsKey.self]?.traceID else { return [] }
        return self.state.withLock { $0.finished.filter { $0.traceID == traceID } }
    }

    static func ids(of context: ServiceContext) -> SpanIDs? { context[SpanIDsKey.self] }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> TestSpan {
        var context = context()
        let parent = context[SpanIDsKey.self]
        let ids = SpanIDs(traceID: parent?.traceID ?? Self.newID(), spanID: Self.newID())
        context[SpanIDsKey.self] = ids
        let recording = self.state.withLock { $0.recordedTraces.contains(ids.traceID) }
        return TestSpan(
            name: operationName,
            kind: kind,
            context: context,
            parentSpanID: parent?.spanID,
            isRecording: recording,
            tracer: self
        )
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let ids = context[SpanIDsKey.self],
            self.state.withLock({ $0.recordedTraces.contains(ids.traceID) })
        else { return }
        injector.inject("\(ids.traceID)-\(ids.spanID)", forKey: Self.headerName, into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout ServiceContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: Self.headerName, from: carrier) else { return }
        let parts = value.split(separator: "-")
        guard parts.count == 2 else { return }
        context[SpanIDsKey.self] = SpanIDs(traceID: String(parts[0]), spanID: String(parts[1]))
    }

    fileprivate func finished(_ span: FinishedSpan) {
        self.state.withLock { $0.finished.append(span) }
    }

    private static func newID() -> String {
        String(UInt64.random(in: 1...UInt64.max), radix: 16)
    }
}

/// A span of ``TestTracer``.
final class TestSpan: Tracing.Span {
    private struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var links: [String] = []
        var isError = false
        var ended = false
    }

    let context: ServiceContext
    let kind: SpanKind
    let parentSpanID: String?
    let isRecording: Bool
    private let tracer: TestTracer
    private let state: Mutex<State>

    fileprivate init(
        name: String,
        kind: SpanKind,
        context: ServiceContext,
        parentSpanID: String?,
        isRecording: Bool,
        tracer: TestTracer
    ) {
        self.state = Mutex(State(name: name))
        self.kind = kind
        self.context = context
        self.parentSpanID = parentSpanID
        self.isRecording = isRecording
        self.tracer = tracer
    }

    var operationName: String {
        get { self.state.withLock { $0.name } }
        set { self.state.withLock { $0.name = newValue } }
    }

    var attributes: SpanAttributes {
        get { self.state.withLock { $0.attributes } }
        set { self.state.withLock { $0.attributes = newValue } }
    }

    func setStatus(_ status: SpanStatus) {
        if status.code == .error { self.state.withLock { $0.isError = true } }
    }

    func addEvent(_ event: SpanEvent) {}

    func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        self.state.withLock { $0.isError = true }
    }

    func addLink(_ link: SpanLink) {
        guard let ids = TestTracer.ids(of: link.context) else { return }
        self.state.withLock { $0.links.append(ids.spanID) }
    }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let state = self.state.withLock { state -> State? in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }
        guard let state, self.isRecording, let ids = TestTracer.ids(of: self.context) else { return }
        self.tracer.finished(
            TestTracer.FinishedSpan(
                traceID: ids.traceID,
                spanID: ids.spanID,
                parentSpanID: self.parentSpanID,
                name: state.name,
                kind: self.kind,
                attributes: state.attributes,
                links: state.links,
                isError: state.isError
            )
        )
    }
}
