import Metrics
import RedisClient
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The console dashboard's figures: the latency histogram, each instance's totals per minute, their idempotent writes
/// to Redis, and the fleet's sum read back.
@Suite("Dashboard figures")
struct DashboardTests {
    @Test("latencies fall in the bucket of their upper bound; percentiles are read back from the counts")
    func latencyBuckets() {
        #expect(LatencyBuckets.index(of: .microseconds(250)) == 0)
        #expect(LatencyBuckets.index(of: .microseconds(251)) == 1)
        #expect(LatencyBuckets.index(of: .milliseconds(10)) == LatencyBuckets.upperBounds.firstIndex(of: 10_000))
        #expect(LatencyBuckets.index(of: .seconds(11)) == LatencyBuckets.count - 1)
        #expect(LatencyBuckets.percentile(0.5, of: Array(repeating: 0, count: LatencyBuckets.count)) == nil)
        // 100 requests between 5 and 7.5 ms: the median is half-way through that bucket.
        var counts = Array(repeating: 0, count: LatencyBuckets.count)
        counts[LatencyBuckets.index(of: .milliseconds(6))] = 100
        #expect(LatencyBuckets.percentile(0.5, of: counts) == 6.25)
        #expect(LatencyBuckets.percentile(1, of: counts) == 7.5)
        // One slow request in a hundred: p99 stays in the fast bucket, the maximum does not.
        counts[LatencyBuckets.index(of: .milliseconds(6))] = 99
        counts[LatencyBuckets.index(of: .seconds(30))] = 1
        #expect(LatencyBuckets.percentile(0.99, of: counts)! <= 7.5)
        #expect(LatencyBuckets.percentile(1, of: counts) == 10_000)
    }

    @Test("a total that grows while it is written stays to be written; written minutes are forgotten, old ones always")
    func minuteTotals() {
        typealias Key = MinuteTotals.Key
        var totals = MinuteTotals()
        let old = Key(minute: 100, metric: .orders, field: "placed")
        let current = Key(minute: 102, metric: .orders, field: "placed")
        totals.add(2, to: old)
        totals.add(1, to: current)
        totals.add(0, to: Key(minute: 102, metric: .http, field: "errors"))
        #expect(totals.unwritten == [old: 2, current: 1])
        let written = totals.unwritten
        totals.add(1, to: current)
        totals.wrote(written, currentMinute: 102, oldestKept: 0)
        // The old minute was written and is over: forgotten. The current one grew meanwhile: written again, in full.
        #expect(totals.unwritten == [current: 2])
        #expect(totals.totals == [current: 2])
        totals.wrote(totals.unwritten, currentMinute: 102, oldestKept: 0)
        #expect(totals.unwritten.isEmpty)
        #expect(totals.totals == [current: 2])
        // Redis away for longer than the retention: what was never written is dropped, memory stays bounded.
        totals.add(5, to: Key(minute: 103, metric: .orders, field: "placed"))
        totals.expire(oldestKept: 104)
        #expect(totals.totals.isEmpty && totals.unwritten.isEmpty)
    }

    @Test("the queue's outcomes reach the dashboard through the metrics factory, and still reach the factory behind it")
    func queueOutcomesThroughMetrics() {
        let series = DashboardSeries(now: { 60_000 * 500 })
        let behind = CountingFactory()
        let factory = DashboardMetricsFactory(series: series, forward: behind)
        func counter(_ outcome: String) -> Counter {
            Counter(
                label: "queue_handled_total",
                dimensions: [("topic", "orders"), ("group", "g"), ("outcome", outcome)],
                factory: factory
            )
        }
        counter("success").increment(by: 3)
        counter("retry").increment()
        counter("dead_letter").increment()
        counter("abandoned").increment()
        Counter(label: "queue_retries_total", dimensions: [("topic", "orders")], factory: factory).increment()
        let unwritten = series.unwritten
        func total(_ field: String) -> Int? { unwritten[.init(minute: 500, metric: .queue, field: field)] }
        #expect(total("handled:orders") == 3)
        #expect(total("failed:orders") == 2)
        #expect(total("dead:orders") == 1)
        #expect(unwritten.count == 3)
        #expect(behind.increments == 7)
    }

    @Test(
        "each write adds what every cache namespace did since the last sample, and the breaker's openings and open time"
    )
    func cacheSampling() async throws {
        try await withTestRedis(prefix: "test:dash:sampling:") { redis in
            let clock = Clock(minute: 2_000)
            let series = DashboardSeries(now: clock.now)
            let sample = Mutex(
                CacheSample(
                    namespaces: ["products": CacheCounts(hits: 10, misses: 5)],
                    breakerOpenings: 1,
                    breakerOpen: false
                )
            )
            let recorder = DashboardRecorder(
                redis: redis,
                keyPrefix: "test:dash:sampling:",
                instanceID: "a",
                series: series,
                interval: .milliseconds(2_500),
                cacheTotals: { sample.withLock { $0 } },
                logger: TestServers.logger
            )
            // The first sample is the baseline: what happened before the recorder started is not this minute's.
            var last = recorder.cacheTotals?()
            sample.withLock {
                $0.namespaces["products"] = CacheCounts(hits: 14, misses: 5, waits: 2)
                $0.namespaces["rates"] = CacheCounts(hits: 1, errors: 3, bypassed: 3)
                $0.breakerOpenings = 2
                $0.breakerOpen = true
            }
            recorder.sampleCache(&last)
            func key(_ field: String) -> MinuteTotals.Key { .init(minute: 2_000, metric: .cache, field: field) }
            #expect(
                series.unwritten == [
                    key("hits:products"): 4, key("waits:products"): 2, key("hits:rates"): 1, key("errors:rates"): 3,
                    key("bypassed:rates"): 3, key("openings"): 1, key("open_ms"): 2_500,
                ]
            )
            // A counter that went back (a cache created again) adds nothing; a closed breaker adds no open time.
            sample.withLock {
                $0.namespaces["products"] = CacheCounts(hits: 1, misses: 6)
                $0.breakerOpen = false
            }
            recorder.sampleCache(&last)
            #expect(series.unwritten[key("hits:products")] == 4)
            #expect(series.unwritten[key("misses:products")] == 1)
            #expect(series.unwritten[key("open_ms")] == 2_500)
        }
    }

    @Test("instances write their own totals; the reader adds them up; a write repeated after a timeout counts once")
    func fleetTotalsInRedis() async throws {
        let prefix = "test:dash:\(UUID().uuidString.prefix(8).lowercased()):"
        try await withTestRedis(prefix: prefix) { redis in
            let clock = Clock(minute: 1_000)
            let first = DashboardSeries(now: clock.now)
            let second = DashboardSeries(now: clock.now)
            func recorder(_ instance: String, _ series: DashboardSeries) -> DashboardRecorder {
                DashboardRecorder(
                    redis: redis,
                    keyPrefix: prefix,
                    instanceID: instance,
                    series: series,
                    retentionMinutes: 30,
                    cacheTotals: nil,
                    logger: TestServers.logger
                )
            }
            let a = recorder("a", first)
            let b = recorder("b", second)
            // Minute 1000: a answers 3 requests (one 503) and places 2 orders; b answers 1 request.
            first.requestAnswered(status: 200, duration: .milliseconds(2))
            first.requestAnswered(status: 200, duration: .milliseconds(4))
            first.requestAnswered(status: 503, duration: .milliseconds(40))
            first.orderPlaced()
            first.orderPlaced()
            second.requestAnswered(status: 201, duration: .milliseconds(1))
            second.cacheActivity(namespace: "products", CacheCounts(hits: 2, misses: 1, waits: 1))
            second.cacheActivity(namespace: "rates", CacheCounts(hits: 1, errors: 2, bypassed: 3))
            first.cacheActivity(namespace: "products", CacheCounts(hits: 0, misses: 0))
            first.cacheBreaker(openings: 1, openMilliseconds: 10_000)
            second.cacheBreaker(openings: 0, openMilliseconds: 0)
            #expect(await a.write())
            #expect(await b.write())
            // Minute 1001: a places one more order.
            clock.minute = 1_001
            first.orderPlaced()
            #expect(await a.write())
            // Nothing new: nothing to send (an idle instance costs no Redis command).
            #expect(first.unwritten.isEmpty)
            #expect(await a.write())

            let reader = DashboardReader(redis: redis, keys: a.keys, writeInterval: a.interval)
            var snapshot = try await reader.snapshot(minutes: 3, currentMinute: 1_001)
            #expect(snapshot.minutes.map(\.start) == [999, 1_000, 1_001].map { Date(timeIntervalSince1970: $0 * 60) })
            let minute = snapshot.minutes[1]
            #expect(minute.instances == 2)
            #expect(minute.requests == 4)
            #expect(minute.serverErrors == 1)
            #expect(minute.ordersPlaced == 2)
            #expect(minute.cacheHits == 3 && minute.cacheMisses == 1 && minute.cacheHitRatio == 0.75)
            #expect(
                minute.cacheNamespaces == [
                    CacheNamespaceMinute(
                        namespace: "products",
                        hits: 2,
                        misses: 1,
                        hitRatio: 2.0 / 3.0,
                        waits: 1,
                        errors: 0,
                        bypassed: 0
                    ),
                    CacheNamespaceMinute(
                        namespace: "rates",
                        hits: 1,
                        misses: 0,
                        hitRatio: 1,
                        waits: 0,
                        errors: 2,
                        bypassed: 3
                    ),
                ]
            )
            #expect(minute.cacheBreakerOpenings == 1 && minute.cacheBreakerOpenSeconds == 10)
            #expect(minute.p50Milliseconds.map { $0 > 1 && $0 <= 3 } == true, "\(minute)")
            #expect(minute.p99Milliseconds.map { $0 > 30 && $0 <= 50 } == true, "\(minute)")
            #expect(snapshot.minutes[0].requests == 0 && snapshot.minutes[0].p50Milliseconds == nil)
            #expect(snapshot.minutes[2].ordersPlaced == 1 && snapshot.minutes[2].instances == 1)

            // A write whose reply was lost is sent again with the same totals: HSET, not HINCRBY, so nothing doubles.
            let key = MinuteTotals.Key(minute: 1_001, metric: .orders, field: "placed")
            first.orderPlaced()
            let pending = first.unwritten
            #expect(pending == [key: 2])
            #expect(await a.write())
            // As if the first write had timed out after Redis applied it: the same totals, written again.
            _ = try await redis.send(
                RedisCommand("HSET", key: a.keys.key(minute: 1_001, metric: .orders), "a|placed", "2")
            )
            snapshot = try await reader.snapshot(minutes: 1, currentMinute: 1_001)
            #expect(snapshot.minutes[0].ordersPlaced == 2)

            // Every key expires after the retention (30 minutes, plus the minute itself).
            let ttl = try await redis.send(RedisCommand("PTTL", key: a.keys.key(minute: 1_000, metric: .http)))
                .decode(as: Int.self)
            #expect(ttl > 29 * 60_000 && ttl <= 31 * 60_000, "\(ttl)")

            // An instance of the earlier version (a rolling deploy) writes `hits`/`misses` without a namespace: they
            // still count in the totals.
            _ = try await redis.send(
                RedisCommand("HSET", key: a.keys.key(minute: 1_000, metric: .cache), "old|hits", "2", "old|misses", "0")
            )
            let mixed = try await reader.snapshot(minutes: 2, currentMinute: 1_001).minutes[0]
            #expect(mixed.cacheHits == 5 && mixed.cacheMisses == 1)
            #expect(mixed.cacheNamespaces.map(\.namespace) == ["products", "rates"])
        }
    }

    @Test(
        "the stream pushes snapshots to admins, ends when the session does, and ends with the instance's shutdown",
        .timeLimit(.minutes(10))
    )
    func theStream() async throws {
        let atShutdown = Mutex<SSEStream?>(nil)
        let fast = ConfigurationTweak.with { $0.dashboardWriteInterval = .milliseconds(200) }
        try await withOrderInstances(count: 1, configure: fast) { shop in
            let admin = try await shop.signIn("admin@dashboard.test", role: .admin)
            let user = try await shop.signIn("user@dashboard.test")
            #expect(try await shop.send(.GET, "/api/v1/admin/dashboard/stream", cookie: user).status == 403)
            #expect(try await shop.send(.GET, "/api/v1/admin/dashboard/stream").status == 401)
            let badWindow = try await shop.send(.GET, "/api/v1/admin/dashboard?minutes=181", cookie: admin)
            #expect(badWindow.status == 400 && badWindow.body.contains(#""field":"minutes""#), "\(badWindow.body)")

            let stream = try await SSEStream.open(
                shop.http,
                port: shop.ports[0],
                path: "/api/v1/admin/dashboard/stream?minutes=5",
                cookie: admin
            )
            #expect(stream.status == 200 && stream.contentType == "text/event-stream")
            // One snapshot at once, the next a push interval later: both whole snapshots of five minutes, the later
            // one counting the requests made so far (written by the recorder meanwhile).
            let events = try await stream.waitForEvents(2)
            #expect(events.map(\.event) == ["snapshot", "snapshot"])
            let snapshot = try JSONCoding.decoder.decode(DashboardSnapshot.self, from: Data(events[1].data.utf8))
            #expect(snapshot.minutes.count == 5 && snapshot.writeIntervalMilliseconds == 200)
            #expect(snapshot.minutes.map(\.requests).reduce(0, +) > 0, "\(events[1].data)")
            // Signed out: the stream ends at its next push.
            #expect(try await shop.send(.POST, "/api/v1/auth/logout", cookie: admin).status == 204)
            #expect(await stream.waitUntilEnded())

            let other = try await shop.signIn("admin2@dashboard.test", role: .admin)
            let open = try await SSEStream.open(
                shop.http,
                port: shop.ports[0],
                path: "/api/v1/admin/dashboard/stream",
                cookie: other
            )
            _ = try await open.waitForEvents(1)
            atShutdown.withLock { $0 = open }
        }
        // The instance shut down with the stream open (it did not wait for the client to leave): the stream ended.
        let open = try #require(atShutdown.withLock { $0 })
        #expect(await open.waitUntilEnded())
    }

    @Test("a write that fails keeps its totals for the next one")
    func failedWriteIsRetried() async throws {
        let prefix = "test:dash:\(UUID().uuidString.prefix(8).lowercased()):"
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:1")
        configuration.connectTimeout = .milliseconds(200)
        let nowhere = RedisClient(configuration: configuration, logger: TestServers.logger)
        let series = DashboardSeries(now: { 60_000 * 7 })
        series.orderPlaced()
        let failing = DashboardRecorder(
            redis: nowhere,
            keyPrefix: prefix,
            instanceID: "a",
            series: series,
            cacheTotals: nil,
            logger: TestServers.logger
        )
        #expect(await failing.write() == false)
        await nowhere.shutdown()
        #expect(series.unwritten == [.init(minute: 7, metric: .orders, field: "placed"): 1])
        try await withTestRedis(prefix: prefix) { redis in
            let recorder = DashboardRecorder(
                redis: redis,
                keyPrefix: prefix,
                instanceID: "a",
                series: series,
                cacheTotals: nil,
                logger: TestServers.logger
            )
            #expect(await recorder.write())
            let reader = DashboardReader(redis: redis, keys: recorder.keys, writeInterval: recorder.interval)
            let snapshot = try await reader.snapshot(minutes: 1, currentMinute: 7)
            #expect(snapshot.minutes[0].ordersPlaced == 1)
        }
    }
}

/// A settable clock for ``DashboardSeries``.
private final class Clock: Sendable {
    private let value: Mutex<Int64>

    init(minute: Int64) {
        self.value = Mutex(minute)
    }

    var minute: Int64 {
        get { self.value.withLock { $0 } }
        set { self.value.withLock { $0 = newValue } }
    }

    var now: @Sendable () -> Int64 {
        { self.minute * 60_000 + 30_000 }
    }
}

/// A metrics factory that counts the increments of its counters.
private final class CountingFactory: MetricsFactory, Sendable {
    private let count = Mutex(0)
    var increments: Int { self.count.withLock { $0 } }

    private final class Handler: CounterHandler, Sendable {
        let factory: CountingFactory
        init(_ factory: CountingFactory) { self.factory = factory }
        func increment(by amount: Int64) { self.factory.count.withLock { $0 += Int(amount) } }
        func reset() {}
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(self) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
