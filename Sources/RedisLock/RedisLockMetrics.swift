import Metrics

/// Lock metrics through swift-metrics (no-ops until the application bootstraps a backend). No per-lock
/// dimensions: lock names can be unbounded (one per product).
///
/// - `redis_lock_acquired_total`, `redis_lock_busy_total` (try-once found it held),
///   `redis_lock_timeouts_total`, `redis_lock_lease_lost_total` (counters)
/// - `redis_lock_wait_seconds`, `redis_lock_hold_seconds` (timers)
struct RedisLockMetrics: Sendable {
    private let acquiredCounter = Counter(label: "redis_lock_acquired_total")
    private let busyCounter = Counter(label: "redis_lock_busy_total")
    private let timeoutCounter = Counter(label: "redis_lock_timeouts_total")
    private let lostCounter = Counter(label: "redis_lock_lease_lost_total")
    private let waitTimer = Timer(label: "redis_lock_wait_seconds")
    private let holdTimer = Timer(label: "redis_lock_hold_seconds")

    func acquired(waited: Duration) {
        self.acquiredCounter.increment()
        self.waitTimer.record(duration: waited)
    }

    func busy() { self.busyCounter.increment() }
    func timedOut() { self.timeoutCounter.increment() }
    func leaseLost() { self.lostCounter.increment() }
    func held(_ duration: Duration) { self.holdTimer.record(duration: duration) }
}
