import ArgumentParser
import AsyncHTTPClient
import Histogram
import Logging
import NIOCore
import NIOHTTP1
import RedisClient
import Synchronization

/// Load generators behind `make bench-pubsub`. Each prints one `RESULT key=value ...` line for the script.
@main
struct PubSubBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub-benchmark",
        abstract: "Measure notification delivery across instances and the Redis pub/sub hop beneath it.",
        subcommands: [Streams.self, RawPubSub.self]
    )
}

/// A shared counter.
final class SharedCount: Sendable {
    private let value = Atomic<Int>(0)

    func add() { self.value.add(1, ordering: .relaxed) }
    var current: Int { self.value.load(ordering: .relaxed) }
}

/// Send times, by sequence number.
final class SendTimes: Sendable {
    private let state = Mutex<[Int: ContinuousClock.Instant]>([:])

    func record(_ sequence: Int, at instant: ContinuousClock.Instant) {
        self.state.withLock { $0[sequence] = instant }
    }

    var snapshot: [Int: ContinuousClock.Instant] { self.state.withLock { $0 } }
}

/// Arrival times of events, by sequence number, shared by the readers.
final class Arrivals: Sendable {
    private let state = Mutex<[Int: [ContinuousClock.Instant]]>([:])

    func record(_ sequence: Int, at instant: ContinuousClock.Instant) {
        self.state.withLock { $0[sequence, default: []].append(instant) }
    }

    var snapshot: [Int: [ContinuousClock.Instant]] { self.state.withLock { $0 } }
}

/// Notifications end to end: an admin's broadcast sent to instance A (`--publish-url`) at `--rate` events per
/// second in all, each user's SSE stream open on instance B (`--stream-url`); latency from sending the request to
/// each stream receiving the event (inbox rows written, announced on Redis, pushed by B).
struct Streams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Broadcast on one instance, SSE streams on another.")

    @Option(help: "Base URL of the instance that receives the broadcasts.") var publishURL: String
    @Option(help: "Base URL of the instance the streams are open on.") var streamURL: String
    @Option(help: "Session cookie (name=value) of an admin.") var adminCookie: String
    @Option(help: "Session cookies (name=value) of the streams' users, comma-separated.") var userCookies: String
    @Option(help: "Events per second delivered in all (broadcasts/s × streams).") var rate = 1000
    @Option(help: "Seconds of measurement.") var seconds = 10
    @Option(help: "Seconds of warm-up before measuring.") var warmup = 2

    func run() async throws {
        let cookies = self.userCookies.split(separator: ",").map(String.init)
        guard !cookies.isEmpty else { throw ValidationError("--user-cookies is empty") }
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = cookies.count + 64
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(connectionPool: pool, decompression: .disabled)
        )
        let arrivals = Arrivals()
        let sent = SendTimes()
        let broadcastsPerSecond = max(1, self.rate / cookies.count)
        let total = broadcastsPerSecond * (self.warmup + self.seconds)
        let firstMeasured = broadcastsPerSecond * self.warmup
        let failures = SharedCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The streams, on instance B.
            let ready = SharedCount()
            for cookie in cookies {
                group.addTask {
                    var request = HTTPClientRequest(url: "\(self.streamURL)/api/v1/notifications/stream")
                    request.headers.add(name: "Cookie", value: cookie)
                    let response = try await http.execute(request, timeout: .hours(1))
                    guard response.status == .ok else { throw ValidationError("stream answered \(response.status)") }
                    ready.add()
                    var pending = ""
                    for try await chunk in response.body {
                        let now = ContinuousClock.now
                        pending += String(buffer: chunk)
                        while let range = pending.range(of: "\n\n") {
                            let block = pending[..<range.lowerBound]
                            if let title = block.range(of: #""title":"b-"#) {
                                let digits = block[title.upperBound...].prefix { $0.isNumber }
                                if let sequence = Int(digits) {
                                    arrivals.record(sequence, at: now)
                                    if sequence == total - 1 { return }
                                }
                            }
                            pending = String(pending[range.upperBound...])
                        }
                    }
                }
            }
            while ready.current < cookies.count { try await Task.sleep(for: .milliseconds(10)) }
            // The broadcasts, on instance A, paced.
            let interval = Duration.nanoseconds(1_000_000_000 / broadcastsPerSecond)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for sequence in 0..<total {
                    try await Task.sleep(until: start + interval * sequence, clock: .continuous)
                    senders.addTask {
                        var request = HTTPClientRequest(url: "\(self.publishURL)/api/v1/admin/notifications")
                        request.method = .POST
                        request.headers.add(name: "Cookie", value: self.adminCookie)
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: #"{"title":"b-\#(sequence)","body":""}"#))
                        let now = ContinuousClock.now
                        sent.record(sequence, at: now)
                        let response = try await http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        if response.status != .accepted { failures.add() }
                    }
                }
                try await senders.waitForAll()
            }
            // Wait for the last events (bounded), then stop reading.
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline,
                (arrivals.snapshot[total - 1]?.count ?? 0) < cookies.count
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            group.cancelAll()
        }
        try await http.shutdown()
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000)
        var missing = 0
        let sentTimes = sent.snapshot
        let received = arrivals.snapshot
        for sequence in firstMeasured..<total {
            guard let start = sentTimes[sequence] else { continue }
            let times = received[sequence] ?? []
            missing += cookies.count - times.count
            for time in times { histogram.record(UInt64(max(0, (time - start).nanosecondsValue))) }
        }
        let events = Int(histogram.totalCount)
        print(
            "RESULT events=\(events) missing=\(missing) failures=\(failures.current) "
                + "rate=\(broadcastsPerSecond * cookies.count) p50_ms=\(histogram.ms(50)) p99_ms=\(histogram.ms(99)) "
                + "max_ms=\(histogram.ms(100))"
        )
    }
}

/// The floor: one RedisClient publishing at `--rate` messages per second, another subscribed; latency from
/// `PUBLISH` to the subscriber's loop receiving it.
struct RawPubSub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Redis pub/sub latency with RedisClient alone.")

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379/0"
    @Option(help: "Messages per second.") var rate = 1000
    @Option(help: "Seconds of measurement.") var seconds = 10
    @Option(help: "Seconds of warm-up before measuring.") var warmup = 2

    func run() async throws {
        var logger = Logger(label: "pubsub-bench")
        logger.logLevel = .warning
        let publisher = RedisClient(configuration: try RedisConfiguration(url: self.url), logger: logger)
        let subscriber = RedisClient(configuration: try RedisConfiguration(url: self.url), logger: logger)
        let channel = "bench:pubsub:\(Int.random(in: 0..<1_000_000))"
        let total = self.rate * (self.warmup + self.seconds)
        let firstMeasured = self.rate * self.warmup
        let arrivals = Arrivals()
        let sent = SendTimes()
        let listening = SharedCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await subscriber.subscribe(to: [channel]) { subscription in
                    listening.add()
                    for try await event in subscription {
                        guard case .message(let message) = event, let sequence = Int(message.payloadString) else {
                            continue
                        }
                        arrivals.record(sequence, at: .now)
                        if sequence == total - 1 { return }
                    }
                }
            }
            while listening.current == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let interval = Duration.nanoseconds(1_000_000_000 / self.rate)
            let start = ContinuousClock.now
            for sequence in 0..<total {
                try await Task.sleep(until: start + interval * sequence, clock: .continuous)
                sent.record(sequence, at: .now)
                try await publisher.publish(String(sequence), to: channel)
            }
            try await group.next()
            group.cancelAll()
        }
        await publisher.shutdown()
        await subscriber.shutdown()
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000)
        let sentTimes = sent.snapshot
        let received = arrivals.snapshot
        for sequence in firstMeasured..<total {
            guard let start = sentTimes[sequence], let time = received[sequence]?.first else { continue }
            histogram.record(UInt64(max(0, (time - start).nanosecondsValue)))
        }
        print("RESULT events=\(histogram.totalCount) p50_ms=\(histogram.ms(50)) p99_ms=\(histogram.ms(99))")
    }
}

extension Histogram<UInt64> {
    func ms(_ percentile: Double) -> String {
        String(format: "%.3f", Double(self.valueAtPercentile(percentile)) / 1e6)
    }
}

extension Duration {
    var nanosecondsValue: Int64 {
        self.components.seconds * 1_000_000_000 + self.components.attoseconds / 1_000_000_000
    }
}
