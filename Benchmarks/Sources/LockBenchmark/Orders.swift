import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1

/// Orders over HTTP, from `--concurrency` callers spread round-robin over the instances in `--urls`, each order
/// with its own `Idempotency-Key`. Fails unless every answer is 201 or 409 `OUT_OF_STOCK`.
///
/// - The brief's stock-decrement experiment (`make bench-lock`): `--attempts` orders of one unit of one
///   `--product`.
/// - The order path beside pgbench (`make bench-orders`): orders of one unit of a random product of
///   `--products-file` for `--seconds`, each caller signed in as one of `--cookies-file`'s users.
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Purchases per second and latency of POST /api/v1/orders."
    )

    @Option(help: "Base URLs of the instances, comma-separated.") var urls: String
    @Option(help: "Session cookie (name=value) of a signed-in user.") var cookie: String?
    @Option(help: "A file of session cookies (name=value), one per line; caller i uses line i modulo their count.")
    var cookiesFile: String?
    @Option(help: "Product id.") var product: String?
    @Option(help: "A file of product ids, one per line; each order takes one at random.") var productsFile: String?
    @Option(help: "Purchase attempts (ignored with --seconds).") var attempts = 10_000
    @Option(help: "Place orders for this many seconds instead of a number of attempts.") var seconds: Double?
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
        let cookies = try Self.values(self.cookie, file: self.cookiesFile, option: "cookie")
        let bodies = try Self.values(self.product, file: self.productsFile, option: "product").map {
            #"{"items":[{"productId":"\#($0)","quantity":1}]}"#
        }
        let attempts = self.seconds == nil ? self.attempts : Int.max
        let start = ContinuousClock.now
        let deadline = self.seconds.map { start + .milliseconds(Int64($0 * 1000)) }
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for worker in 0..<self.concurrency {
                    group.addTask {
                        var outcome = Outcome()
                        var attempt = worker
                        var random = SystemRandomNumberGenerator()
                        while attempt < attempts {
                            if let deadline, ContinuousClock.now >= deadline { break }
                            var request = HTTPClientRequest(url: "\(bases[attempt % bases.count])/api/v1/orders")
                            request.method = .POST
                            request.headers.add(name: "Cookie", value: cookies[worker % cookies.count])
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Idempotency-Key", value: "\(self.keyPrefix)-\(attempt)")
                            let body = bodies.count == 1 ? bodies[0] : bodies.randomElement(using: &random)!
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
        let answered = outcome.created + outcome.outOfStock
        print(
            "RESULT scenario=orders attempts=\(answered) concurrency=\(self.concurrency) "
                + "created=\(outcome.created) out_of_stock=\(outcome.outOfStock) elapsed_s=\(elapsed.seconds) "
                + "attempts_per_sec=\(Int(Double(answered) / elapsed.seconds)) "
                + "sold_out_s=\(soldOut) purchases_per_sec=\(Int(Double(outcome.created) / max(soldOut, 1e-9))) "
                + "p50_ms=\(outcome.all.milliseconds(50)) p99_ms=\(outcome.all.milliseconds(99)) "
                + "purchase_p99_ms=\(outcome.purchases.milliseconds(99))"
        )
    }

    /// The one value of `--<option>`, or the lines of `--<option>s-file`; exactly one of the two must be given.
    private static func values(_ value: String?, file: String?, option: String) throws -> [String] {
        switch (value, file) {
        case (let value?, nil): return [value]
        case (nil, let file?): return try Self.lines(of: file, naming: "--\(option)s-file")
        default: throw ValidationError("give one of --\(option) and --\(option)s-file")
        }
    }

    private static func lines(of path: String, naming option: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(option): cannot read \(path)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ValidationError("\(option): \(path) is empty") }
        return lines
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
