import AsyncHTTPClient
import Foundation
import Shop
import Synchronization
import Testing

/// The brief's stock-decrement safety experiment, for every strategy: three instances, one product with 1,000
/// units, 10,000 purchase attempts from 200 concurrent callers.
@Suite("Stock never oversells", .serialized)
struct StockDecrementTests {
    @Test(arguments: StockStrategyKind.allCases)
    func tenThousandAttemptsForAThousandUnits(strategy: StockStrategyKind) async throws {
        // An order that waits too long for the product's lock (the lock strategy) or for a database connection
        // (200 callers on pools of 10) answers 503 with Retry-After, nothing ordered; a client retries it with the
        // same key, as this one does. A long lock wait keeps those rare on a loaded machine.
        let configure = ConfigurationTweak.with { $0.orders.lockWait = .seconds(30) }
        // A run that stalls (it did, rarely, in CI) says where: the attempts still waiting for an answer, what
        // PostgreSQL's sessions are doing, and whether the attempts were over (the instances' shutdown stalled).
        // The watchdog outlives the test's body, so it reports a stall in the instances' shutdown too.
        let progress = AttemptProgress()
        let watchdog = Mutex<Task<Void, any Error>?>(nil)
        defer { watchdog.withLock { $0?.cancel() } }
        try await withOrderInstances(count: 3, strategy: strategy, configure: configure) { shop in
            watchdog.withLock { task in
                task = Task {
                    while true {
                        try await Task.sleep(for: .seconds(150))
                        print("StockDecrementTests(\(strategy)): \(progress.report(olderThan: .seconds(60)))")
                        print((try? await shop.databaseActivity()) ?? "PostgreSQL activity unavailable")
                    }
                }
            }
            let product = try await shop.insertProduct(stock: 1_000, price: "1.00")
            var cookies: [String] = []
            for index in 0..<20 {
                cookies.append(try await shop.signIn("buyer\(index)@example.com", instance: index % 3))
            }
            let cookieList = cookies

            let attempts = 10_000
            let concurrency = 200
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        var seen: [Int] = []
                        var attempt = worker
                        while attempt < attempts {
                            progress.started(attempt, instance: attempt % 3)
                            defer { progress.ended(attempt) }
                            var reply = try await shop.order(
                                product,
                                cookie: cookieList[attempt % cookieList.count],
                                key: "attempt-\(attempt)",
                                instance: attempt % 3
                            )
                            var retries = 0
                            while reply.status == 503 && retries < 20 {
                                #expect(reply.headers["retry-after"].first != nil)
                                retries += 1
                                try await Task.sleep(for: .milliseconds(100))
                                reply = try await shop.order(
                                    product,
                                    cookie: cookieList[attempt % cookieList.count],
                                    key: "attempt-\(attempt)",
                                    instance: attempt % 3
                                )
                            }
                            if reply.status == 409 { #expect(reply.body.contains("OUT_OF_STOCK"), "\(reply.body)") }
                            seen.append(reply.status)
                            attempt += concurrency
                        }
                        return seen
                    }
                }
                return try await group.reduce(into: []) { $0.append(contentsOf: $1) }
            }
            progress.bodyEnded()
            #expect(statuses.count == attempts)
            #expect(statuses.filter { $0 == 201 }.count == 1_000, "\(strategy)")
            #expect(statuses.filter { $0 == 409 }.count == 9_000, "\(strategy): \(Set(statuses))")
            #expect(try await shop.scalar("SELECT stock FROM products WHERE id = \(product)") == 0)
            #expect(try await shop.scalar("SELECT count(*)::int FROM orders") == 1_000)
            #expect(
                try await shop.scalar(
                    "SELECT coalesce(sum(quantity), 0)::int FROM order_items WHERE product_id = \(product)"
                ) == 1_000
            )
        }
    }
}

/// The attempts of ``StockDecrementTests`` waiting for an answer, for a report when a run stalls.
final class AttemptProgress: Sendable {
    private let state = Mutex(
        (finished: 0, inFlight: [Int: (instance: Int, since: ContinuousClock.Instant)](), bodyEnded: false)
    )

    func bodyEnded() {
        self.state.withLock { $0.bodyEnded = true }
    }

    func started(_ attempt: Int, instance: Int) {
        self.state.withLock { $0.inFlight[attempt] = (instance, .now) }
    }

    func ended(_ attempt: Int) {
        self.state.withLock {
            $0.inFlight[attempt] = nil
            $0.finished += 1
        }
    }

    func report(olderThan age: Duration) -> String {
        self.state.withLock { state in
            let now = ContinuousClock.now
            let old = state.inFlight.filter { now - $0.value.since > age }.sorted { $0.key < $1.key }
            let listed = old.prefix(20).map {
                "#\($0.key) on instance \($0.value.instance) for \(now - $0.value.since)"
            }
            return (state.bodyEnded ? "every attempt answered; the instances are shutting down. " : "")
                + "\(state.finished) attempts answered, \(state.inFlight.count) waiting, \(old.count) for over \(age): "
                + listed.joined(separator: "; ")
        }
    }
}
