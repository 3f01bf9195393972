import ArgumentParser
import Histogram
import Logging
import NIOCore
import NIOPosix
import RedisClient

/// Load generator for the RedisClient library, shaped like `redis-benchmark` so the two can be compared:
/// `--clients` concurrent callers share one client, each sending one command at a time (or `--pipeline` commands
/// per round trip), until `--requests` commands have been answered.
@main
struct RedisBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-benchmark-swift",
        abstract: "Measure RedisClient throughput and latency against a running Redis."
    )

    @Option(help: "Redis URL.") var url = "redis://127.0.0.1:6379/0"
    @Option(help: "Concurrent callers.") var clients = 50
    @Option(help: "Total commands.") var requests = 200_000
    @Option(help: "Commands per round trip (1 = no explicit pipelining).") var pipeline = 1
    @Option(help: "Command to run: get or set.") var command = "get"
    @Option(help: "Shared (auto-pipelined) connections.") var connections = 1
    @Option(help: "Payload size in bytes for SET.") var dataSize = 3
    @Option(help: "Key space (keys are key:__rand_int__ style, 0..<keyspace).") var keyspace = 1

    func run() async throws {
        var configuration = try RedisConfiguration(url: self.url)
        configuration.multiplexedConnections = self.connections
        let client = RedisClient(configuration: configuration, logger: Logger(label: "bench"))
        let payload = String(repeating: "x", count: self.dataSize)
        _ = try await client.send(RedisCommand("SET", key: "key:__rand_int__", payload))

        // Warm up connections and code paths.
        try await self.load(client: client, total: min(self.requests / 10, 20_000), payload: payload)

        let start = ContinuousClock.now
        let histogram = try await self.load(client: client, total: self.requests, payload: payload)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let opsPerSecond = Double(self.requests) / seconds
        func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1e6 }
        print(
            "RESULT command=\(self.command) clients=\(self.clients) pipeline=\(self.pipeline) "
                + "ops_per_sec=\(Int(opsPerSecond)) p50_ms=\(ms(50)) p99_ms=\(ms(99)) max_ms=\(Double(histogram.max) / 1e6)"
        )
        await client.shutdown()
    }

    @discardableResult
    private func load(client: RedisClient, total: Int, payload: String) async throws -> Histogram<UInt64> {
        let perClient = max(1, total / self.clients / self.pipeline)
        let command = self.command.lowercased()
        let pipelineDepth = self.pipeline
        let keyspace = max(1, self.keyspace)
        return try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for worker in 0..<self.clients {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000)
                    var counter = worker
                    for _ in 0..<perClient {
                        let started = NIODeadline.now().uptimeNanoseconds
                        if pipelineDepth == 1 {
                            let key = keyspace == 1 ? "key:__rand_int__" : "key:\(counter % keyspace)"
                            counter &+= 1
                            if command == "get" {
                                _ = try await client.send(RedisCommand("GET", key: key))
                            } else {
                                _ = try await client.send(RedisCommand("SET", key: key, payload))
                            }
                        } else {
                            var batch: [RedisCommand] = []
                            batch.reserveCapacity(pipelineDepth)
                            for _ in 0..<pipelineDepth {
                                let key = keyspace == 1 ? "key:__rand_int__" : "key:\(counter % keyspace)"
                                counter &+= 1
                                batch.append(
                                    command == "get"
                                        ? RedisCommand("GET", key: key) : RedisCommand("SET", key: key, payload)
                                )
                            }
                            _ = try await client.pipeline(batch)
                        }
                        _ = histogram.record(NIODeadline.now().uptimeNanoseconds - started)
                    }
                    return histogram
                }
            }
            var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000_000)
            for try await histogram in group { merged.add(histogram) }
            return merged
        }
    }
}
