import Metrics

/// Scheduler metrics through swift-metrics, labelled by job (job names are few and fixed):
///
/// - `scheduler_runs_total{job, outcome}` — finished runs by ``JobOutcome``
/// - `scheduler_run_seconds{job}` — how long runs took (timer)
/// - `scheduler_ticks_skipped_total{job, reason}` — ticks this instance did not run: `held` (the job was
///   running elsewhere), `claimed` (another instance already ran the tick), `missed` (woke up too late),
///   `error` (Redis unreachable when claiming), `paused` (the job is paused on every instance)
struct SchedulerMetrics: Sendable {
    enum SkipReason: String {
        case held, claimed, missed, error, paused
    }

    func finished(job: String, outcome: JobOutcome, duration: Duration) {
        Counter(label: "scheduler_runs_total", dimensions: [("job", job), ("outcome", outcome.rawValue)]).increment()
        Timer(label: "scheduler_run_seconds", dimensions: [("job", job)]).record(duration: duration)
    }

    func skipped(job: String, reason: SkipReason, count: Int = 1) {
        Counter(label: "scheduler_ticks_skipped_total", dimensions: [("job", job), ("reason", reason.rawValue)])
            .increment(by: count)
    }
}
