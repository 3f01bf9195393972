public import Metrics

/// A metrics factory that forwards everything to another one and also counts, in a ``DashboardSeries``, the queue
/// consumers' outcomes (`queue_handled_total`): the queue library reports them through swift-metrics, and this is how
/// the dashboard hears of them without a hook of its own in the library.
struct DashboardMetricsFactory: MetricsFactory {
    let series: DashboardSeries
    let forward: any MetricsFactory

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let inner = self.forward.makeCounter(label: label, dimensions: dimensions)
        guard label == "queue_handled_total",
            let topic = dimensions.first(where: { $0.0 == "topic" })?.1,
            let outcome = dimensions.first(where: { $0.0 == "outcome" })?.1
        else { return inner }
        let counted: DashboardSeries.QueueOutcome
        switch outcome {
        case "success": counted = .handled
        case "retry": counted = .failed
        case "dead_letter": counted = .deadLettered
        default: return inner
        }
        let series = self.series
        return CountingCounter(inner: inner) { series.queueHandled(topic: topic, counted, count: $0) }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        self.forward.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        self.forward.makeTimer(label: label, dimensions: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        self.forward.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.forward.makeMeter(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        self.forward.destroyCounter((handler as? CountingCounter)?.inner ?? handler)
    }

    func destroyRecorder(_ handler: any RecorderHandler) { self.forward.destroyRecorder(handler) }
    func destroyTimer(_ handler: any TimerHandler) { self.forward.destroyTimer(handler) }
    func destroyMeter(_ handler: any MeterHandler) { self.forward.destroyMeter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        self.forward.destroyFloatingPointCounter(handler)
    }
}

/// A counter that forwards to another and tells `counted` of each increment.
private final class CountingCounter: CounterHandler, Sendable {
    let inner: any CounterHandler
    let counted: @Sendable (Int) -> Void

    init(inner: any CounterHandler, counted: @escaping @Sendable (Int) -> Void) {
        self.inner = inner
        self.counted = counted
    }

    func increment(by amount: Int64) {
        self.inner.increment(by: amount)
        self.counted(Int(amount))
    }

    func reset() { self.inner.reset() }
}
