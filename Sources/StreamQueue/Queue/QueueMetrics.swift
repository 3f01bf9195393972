import Metrics

/// Producer metrics (swift-metrics; no-ops until the application bootstraps a backend).
///
/// - `queue_published_total{topic}`, `queue_publish_duplicates_total{topic}` (counters)
struct PublishMetrics: Sendable {
    func published(topic: String, duplicate: Bool) {
        if duplicate {
            Counter(label: "queue_publish_duplicates_total", dimensions: [("topic", topic)]).increment()
        } else {
            Counter(label: "queue_published_total", dimensions: [("topic", topic)]).increment()
        }
    }
}

/// Consumer metrics for one group, created once per consumer service. Dimensions are the topic and the group,
/// both bounded by configuration.
///
/// - `queue_handled_total{topic,group,outcome}` with outcome `success`, `retry`, `dead_letter`, `abandoned`
/// - `queue_retries_total{topic,group}`, `queue_transient_failures_total{topic,group}` (handler runs that failed
///   transiently and were waited out), `queue_dead_lettered_total{topic,group,reason}`,
///   `queue_reclaimed_total{topic,group}` (counters)
/// - `queue_handling_duration_seconds{topic,group}` (timer: one handler run),
///   `queue_delivery_latency_seconds{topic,group}` (timer: first publish to handler start)
/// - `queue_lag`, `queue_pending`, `queue_delayed`, `queue_dead_letters` (gauges, `{topic,group}`;
///   `queue_dead_letters` counts the whole topic)
struct ConsumerMetrics: Sendable {
    let succeeded: Counter
    let retried: Counter
    let deadLettered: Counter
    let abandoned: Counter
    let retries: Counter
    let transientFailures: Counter
    let deadHandlerFailed: Counter
    let deadDeliveryLimit: Counter
    let deadMalformed: Counter
    let reclaimed: Counter
    let handling: Timer
    let latency: Timer
    let lag: Gauge
    let pending: Gauge
    let delayed: Gauge
    let deadLetters: Gauge

    init(topic: String, group: String, factory: any MetricsFactory) {
        let base = [("topic", topic), ("group", group)]
        func handled(_ outcome: String) -> Counter {
            Counter(label: "queue_handled_total", dimensions: base + [("outcome", outcome)], factory: factory)
        }
        func dead(_ reason: String) -> Counter {
            Counter(label: "queue_dead_lettered_total", dimensions: base + [("reason", reason)], factory: factory)
        }
        self.succeeded = handled("success")
        self.retried = handled("retry")
        self.deadLettered = handled("dead_letter")
        self.abandoned = handled("abandoned")
        self.retries = Counter(label: "queue_retries_total", dimensions: base, factory: factory)
        self.transientFailures = Counter(label: "queue_transient_failures_total", dimensions: base, factory: factory)
        self.deadHandlerFailed = dead(DeadLetterReason.handlerFailed.rawValue)
        self.deadDeliveryLimit = dead(DeadLetterReason.deliveryLimit.rawValue)
        self.deadMalformed = dead(DeadLetterReason.malformed.rawValue)
        self.reclaimed = Counter(label: "queue_reclaimed_total", dimensions: base, factory: factory)
        self.handling = Timer(label: "queue_handling_duration_seconds", dimensions: base, factory: factory)
        self.latency = Timer(label: "queue_delivery_latency_seconds", dimensions: base, factory: factory)
        self.lag = Gauge(label: "queue_lag", dimensions: base, factory: factory)
        self.pending = Gauge(label: "queue_pending", dimensions: base, factory: factory)
        self.delayed = Gauge(label: "queue_delayed", dimensions: base, factory: factory)
        self.deadLetters = Gauge(label: "queue_dead_letters", dimensions: base, factory: factory)
    }

    func deadLettered(_ reason: DeadLetterReason, count: Int = 1) {
        switch reason {
        case .handlerFailed: self.deadHandlerFailed.increment(by: count)
        case .deliveryLimit: self.deadDeliveryLimit.increment(by: count)
        case .malformed: self.deadMalformed.increment(by: count)
        }
    }
}
