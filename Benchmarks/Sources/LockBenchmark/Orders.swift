import ArgumentParser
import AsyncHTTPClient
import Histogram
import NIOCore
import NIOHTTP1

/// The brief's stock-decrement experiment over HTTP: `--attempts` orders of one unit of `--product`, from
/// `--concurrency` callers spread round-robin over the instances in `--urls`, each with its own
/// `Idempotency-Key`. Fails unless every answer is 201 or 409 `OUT_OF_STOCK`.
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Purchases per second and latency of POST /api/v1/orders."
    )

    @Option(help: "Base URLs of the instances, comma-separated.") var urls: String
    @Option(help: "Session cookie (name=value) of a signed-in user.") var cookie: String
    @Option(help: "Product id.") var product: String
    @Option(help: "Purchase attempts.") var attempts = 10_000
    @Option(help: "Concurrent callers.") var concurrency = 200
    @Option(help: "Prefix of the idempotency keys (unique per run).") var keyPrefix = "bench"

    func run() async throws {
        let bases = self.urls.split(separator: ",").map(String.init)
        guard !bases.isEmpty else { throw ValidationError("--urls is empty") }
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = self.concurrency
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(connectionPool: pool, decompression: .disabled)
        )
        let body = #"{"items":[{"productId":"\#(self.product)","quantity":1}]}"#
        let start = ContinuousClock.now
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for worker in 0..<self.concurrency {
                    group.addTask {
                        var outcome = Outcome()
                        var attempt = worker
                        while attempt < self.attempts {
                            var request = HTTPClientRequest(url: "\(bases[attempt % bases.count])/api/v1/orders")
                            request.method = .POST
                            request.headers.add(name: "Cookie", value: self.cookie)
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Idempotency-Key", value: "\(self.keyPrefix)-\(attempt)")
                            request.body = .bytes(ByteBuffer(string: body))
                            let sent = ContinuousClock.now
                            let response = try await http.execute(request, timeout: .seconds(60))
                            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                            let answered = ContinuousClock.now
                            try outcome.record(
                                status: response.status.code,
                                body: text,
                                latency: answered - sent,
                                since: answered - start
                            )
                            attempt += self.concurrency
                        }
                        return outcome
                    }
                }
                var merged = Outcome()
                for try await partial in group { merged.merge(partial) }
                return merged
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        let elapsed = ContinuousClock.now - start
        let soldOut = outcome.lastPurchase.seconds
        print(
            "RESULT scenario=orders attempts=\(self.attempts) concurrency=\(self.concurrency) "
                + "created=\(outcome.created) out_of_stock=\(outcome.outOfStock) "
                + "attempts_per_sec=\(Int(Double(self.attempts) / elapsed.seconds)) "
                + "sold_out_s=\(soldOut) purchases_per_sec=\(Int(Double(outcome.created) / max(soldOut, 1e-9))) "
                + "p50_ms=\(outcome.all.milliseconds(50)) p99_ms=\(outcome.all.milliseconds(99)) "
                + "purchase_p99_ms=\(outcome.purchases.milliseconds(99))"
        )
    }

    /// What the callers saw.
    struct Outcome {
        var created = 0
        var outOfStock = 0
        /// When the last successful purchase was answered, from the start.
        var lastPurchase = Duration.zero
        var all = Histogram<UInt64>.nanoseconds()
        var purchases = Histogram<UInt64>.nanoseconds()

        mutating func record(status: UInt, body: String, latency: Duration, since start: Duration) throws {
            self.all.record(latency.nanoseconds)
            switch status {
            case 201:
                self.created += 1
                self.purchases.record(latency.nanoseconds)
                self.lastPurchase = max(self.lastPurchase, start)
            case 409 where body.contains("OUT_OF_STOCK"):
                self.outOfStock += 1
            default:
                throw ValidationError("unexpected answer \(status): \(body.prefix(300))")
            }
        }

        mutating func merge(_ other: Outcome) {
            self.created += other.created
            self.outOfStock += other.outOfStock
            self.lastPurchase = max(self.lastPurchase, other.lastPurchase)
            self.all.add(other.all)
            self.purchases.add(other.purchases)
        }
    }
}
