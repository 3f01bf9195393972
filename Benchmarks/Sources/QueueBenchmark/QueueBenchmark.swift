import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import OTel
import RedisClient
import ServiceLifecycle
import StreamQueue
import Tracing

/// The load generator behind `make bench-queue`: one producer and several consumer services (each with a Redis
/// client of its own, as separate instances would have) on one topic and group.
///
/// 1. Throughput: publish `--messages` as fast as the producer can (pipelined batches), while the consumers
///    handle them with a no-op handler; time from the first publish until every message is handled and
///    acknowledged (nothing pending).
/// 2. Latency: publish `--latency-messages` at a steady `--rate`, one at a time; end-to-end latency is the time
///    from just before `publish` (a wall-clock timestamp in the payload) to the handler's start.
///
/// With `--trace`, spans are exported over OTLP as `shop serve` exports them (swift-otel, configured by the
/// `OTEL_*` environment; the script points it at a collector that discards them): each publish runs inside a
/// sampled span of its own, so every message carries a trace context and is consumed in a CONSUMER span.
///
/// Prints one `RESULT key=value ...` line.
@main
struct QueueBenchmark: AsyncParsableCommand {
    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379/0"
    @Option(help: "Key prefix (removed by the script afterwards).") var prefix = "bench:queue:"
    @Option(help: "Messages in the throughput phase.") var messages = 100_000
    @Option(help: "Consumer services (each with its own client).") var consumers = 4
    @Option(help: "Handler concurrency per consumer service.") var concurrency = 32
    @Option(help: "Messages per producer pipeline in the throughput phase.") var batch = 100
    @Option(help: "Messages in the latency phase.") var latencyMessages = 10_000
    @Option(help: "Publish rate of the latency phase (messages per second).") var rate = 5_000
    @Flag(help: "Export spans over OTLP (OTEL_* environment), every publish in a sampled trace.") var trace = false

    func run() async throws {
        var logger = Logger(label: "queue-bench")
        logger.logLevel = .warning
        let configuration = try RedisConfiguration(url: self.url)
        let producerClient = RedisClient(configuration: configuration, logger: logger)
        var queueConfiguration = StreamQueueConfiguration()
        queueConfiguration.keyPrefix = self.prefix
        queueConfiguration.retention = .maxLength(max(1_000_000, self.messages * 2))
        let producer = StreamQueue(client: producerClient, configuration: queueConfiguration, logger: logger)
        let topic = "bench"
        try await producer.createGroup(topic: topic, group: "noop", startAt: .newMessages)

        let recorder = Recorder()
        var services: [any Service] = [producerClient]
        if self.trace {
            var otel = OTel.Configuration.default
            otel.serviceName = "queue-bench"
            otel.traces.enabled = true
            otel.traces.exporter = .otlp
            otel.metrics.enabled = false
            otel.logs.enabled = false
            services.insert(try OTel.bootstrap(configuration: otel), at: 0)
        }
        let traced = self.trace
        var clients: [RedisClient] = []
        for index in 0..<self.consumers {
            let client = RedisClient(configuration: configuration, logger: logger)
            clients.append(client)
            var consumerConfiguration = QueueConsumerConfiguration()
            consumerConfiguration.concurrency = self.concurrency
            consumerConfiguration.consumerName = "bench-\(index)"
            consumerConfiguration.gaugeInterval = nil
            let consumer = QueueConsumer(
                queue: StreamQueue(client: client, configuration: queueConfiguration, logger: logger),
                topic: topic,
                group: "noop",
                configuration: consumerConfiguration
            ) { message in
                recorder.handled(sentNanoseconds: Int64(message.payloadString) ?? 0)
            }
            services.append(client)
            services.append(consumer)
        }
        let group = ServiceGroup(services: services, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }

            // 1. Throughput.
            recorder.reset(recordLatency: false)
            let start = ContinuousClock.now
            var sent = 0
            while sent < self.messages {
                let count = min(self.batch, self.messages - sent)
                let stamp = String(wallClockNanoseconds())
                let results = try await traceIf(traced, "publish batch") {
                    try await producer.publish(
                        (0..<count).map { _ in OutgoingMessage(type: "noop", payload: stamp) },
                        to: topic
                    )
                }
                for case .failure(let error) in results { throw error }
                sent += count
            }
            let published = ContinuousClock.now
            try await self.waitUntil(handled: self.messages, recorder: recorder, client: producerClient, topic: topic)
            let elapsed = ContinuousClock.now - start
            let throughput = Double(self.messages) / elapsed.seconds
            let publishRate = Double(self.messages) / (published - start).seconds

            // 2. Latency at a steady rate.
            recorder.reset(recordLatency: true)
            let interval = Duration.nanoseconds(1_000_000_000 / max(1, self.rate))
            let paced = ContinuousClock.now
            for index in 0..<self.latencyMessages {
                let due = paced + interval * index
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                _ = try await traceIf(traced, "publish") {
                    try await producer.publish(
                        OutgoingMessage(type: "noop", payload: String(wallClockNanoseconds())),
                        to: topic
                    )
                }
            }
            try await self.waitUntil(
                handled: self.latencyMessages,
                recorder: recorder,
                client: producerClient,
                topic: topic
            )
            let histogram = recorder.histogram
            print(
                "RESULT msgs_per_s=\(Int(throughput)) publish_per_s=\(Int(publishRate))"
                    + " e2e_p50_ms=\(histogram.milliseconds(50)) e2e_p99_ms=\(histogram.milliseconds(99))"
                    + " e2e_max_ms=\(Double(histogram.max) / 1e6) consumers=\(self.consumers)"
                    + " concurrency=\(self.concurrency) messages=\(self.messages) trace=\(self.trace)"
            )
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    private func waitUntil(handled: Int, recorder: Recorder, client: RedisClient, topic: String) async throws {
        while recorder.count < handled {
            try await Task.sleep(for: .milliseconds(1))
        }
        // Acknowledged too: nothing pending in the group.
        let stream = "\(self.prefix){\(topic)}:stream"
        while try await client.xpendingCount(stream, group: "noop") > 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// Counts handled messages and records end-to-end latencies.
final class Recorder: Sendable {
    private struct State {
        var count = 0
        var recordLatency = false
        var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000_000)
    }

    private let state = NIOLockedValueBox(State())

    var count: Int { self.state.withLockedValue { $0.count } }
    var histogram: Histogram<UInt64> { self.state.withLockedValue { $0.histogram } }

    func reset(recordLatency: Bool) {
        self.state.withLockedValue {
            $0 = State()
            $0.recordLatency = recordLatency
        }
    }

    func handled(sentNanoseconds: Int64) {
        let now = wallClockNanoseconds()
        self.state.withLockedValue { state in
            state.count += 1
            if state.recordLatency {
                state.histogram.record(UInt64(max(0, now - sentNanoseconds)))
            }
        }
    }
}

/// Runs `body` in a root span of its own when `enabled` (the library's spans become its children), else as is.
func traceIf<Result>(_ enabled: Bool, _ name: String, _ body: () async throws -> Result) async throws -> Result {
    guard enabled else { return try await body() }
    return try await withSpan(name, context: .topLevel, ofKind: .internal) { _ in try await body() }
}

func wallClockNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

extension Histogram<UInt64> {
    func milliseconds(_ percentile: Double) -> Double { Double(self.valueAtPercentile(percentile)) / 1e6 }
}

extension Duration {
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
