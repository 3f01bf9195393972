import Foundation
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import Shop

/// A provider event and the pay flow's transaction that records the provider's id, interleaved on purpose: a
/// transaction of the test's own holds a row lock so that each of the two reaches the worst point before the other
/// commits. Found by the chaos run (seed 2 of its Sentinel mode): the event parked as `unmatched` after the pay
/// flow's transaction had looked for parked events, and nothing ever queued it again.
@Suite("Payment events racing the pay flow")
struct PaymentEventRaceTests {
    typealias Hooks = PaymentWebhookTests

    /// The event carries our reference; its consumer does not see the id the pay flow is recording (not committed),
    /// tries to record the id from the event and finds the row taken meanwhile.
    @Test func anEventMatchedByOurReferenceWhileThePayFlowRecordsTheIDIsApplied() async throws {
        try await withOrderInstances(count: 1, configure: Hooks.isolated) { shop in
            let (order, payment) = try await Hooks.paymentWithoutProviderID(shop)
            let held = try await HeldLock.take("SELECT 1 FROM payments WHERE id = \(payment) FOR UPDATE", in: shop)
            // The pay flow's transaction queues behind the test's lock on the payment.
            let recording = Self.recordProviderID("pay_race_ref", of: payment, in: shop)
            try await Self.waitForLockWaiters(1, in: shop)
            // The webhook's event reaches its consumer meanwhile, which queues too.
            let body = Hooks.event(
                "evt_race_ref",
                "payment.succeeded",
                payment: "pay_race_ref",
                reference: payment,
                order: order
            )
            #expect(try await Hooks.post(shop, body, signature: Hooks.signed(body)).status == 202)
            try await Self.waitForLockWaiters(2, in: shop)
            try await held.release()
            _ = try await recording.task.value
            try await Self.waitUntilApplied(shop, event: "evt_race_ref", providerID: "pay_race_ref")
        }
    }

    /// The event carries no reference; its consumer finds nothing and parks it, while the pay flow's transaction
    /// records the id and looks for parked events before the parking committed.
    @Test func anEventParkedWhileThePayFlowRecordsTheIDIsQueuedAgainAndApplied() async throws {
        let noConsumers = ConfigurationTweak.with { configuration in
            try Hooks.isolated.apply(&configuration)
            configuration.queue.consumersEnabled = false
        }
        try await withOrderInstances(count: 1, configure: noConsumers) { shop in
            let (order, payment) = try await Hooks.paymentWithoutProviderID(shop)
            let body = Hooks.event(
                "evt_race_unm",
                "payment.succeeded",
                payment: "pay_race_unm",
                reference: nil,
                order: order
            )
            #expect(try await Hooks.post(shop, body, signature: Hooks.signed(body)).status == 202)
            #expect(try await Hooks.inboxStatus(shop, event: "evt_race_unm") == "queued")

            // The consumer will find no payment for the event and then wait, to park it, behind the test's lock.
            let held = try await HeldLock.take(
                "SELECT 1 FROM provider_events WHERE event_id = 'evt_race_unm' FOR UPDATE",
                in: shop
            )
            var configuration = shop.configuration
            configuration.queue.consumersEnabled = true
            configuration.instanceID = "race-consumer"
            let consumer = buildApplication(configuration: configuration, logger: TestServers.logger)
            try await consumer.test(.live) { _ in
                try await Self.waitForLockWaiters(1, in: shop)
                // The pay flow records the id now: it either completes (having found nothing parked yet) or waits
                // for the consumer's transaction.
                let recording = Self.recordProviderID("pay_race_unm", of: payment, in: shop)
                for _ in 0..<3000 {
                    if recording.finished.isSet { break }
                    if try await Self.lockWaiters(in: shop) >= 2 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await held.release()
                _ = try await recording.task.value
                try await Self.waitUntilApplied(shop, event: "evt_race_unm", providerID: "pay_race_unm")
            }
        }
    }

    /// `PaymentRepository.setProviderID` running in a task of its own, as a retried pay request's.
    struct Recording: Sendable {
        let task: Task<Payment?, any Error>
        let finished: DatabaseWaitTests.Flag
    }

    static func recordProviderID(_ providerID: String, of payment: UUID, in shop: OrdersFixture) -> Recording {
        let finished = DatabaseWaitTests.Flag()
        let task = Task {
            defer { finished.set() }
            return try await withClient(shop.database) { client in
                try await PaymentRepository(client: Database(client: client), logger: TestServers.logger)
                    .setProviderID(providerID, of: payment)
            }
        }
        return Recording(task: task, finished: finished)
    }

    /// A row lock the test holds in a transaction of its own until ``release()``.
    struct HeldLock: Sendable {
        let holder: Task<Void, any Error>
        let signal: AsyncStream<Void>.Continuation

        /// Runs `locking` in a new transaction and returns once it holds what the statement locked.
        static func take(_ locking: PostgresQuery, in shop: OrdersFixture) async throws -> HeldLock {
            let (locked, lockedSignal) = AsyncStream<Void>.makeStream()
            let (released, releasedSignal) = AsyncStream<Void>.makeStream()
            let holder = Task {
                defer { lockedSignal.finish() }
                try await withClient(shop.database) { client in
                    try await Database(client: client).transaction(logger: TestServers.logger) { connection in
                        try await connection.query(locking, logger: TestServers.logger)
                        lockedSignal.yield()
                        for await _ in released { break }
                    }
                }
            }
            for await _ in locked { return HeldLock(holder: holder, signal: releasedSignal) }
            try await holder.value
            throw RaceSetupFailed("the test's lock was not taken")
        }

        /// Commits the transaction, which releases the lock.
        func release() async throws {
            self.signal.yield()
            self.signal.finish()
            try await self.holder.value
        }
    }

    /// Backends of the test's database waiting for a lock (a row's or an advisory lock).
    static func lockWaiters(in shop: OrdersFixture) async throws -> Int {
        try await shop.scalar(
            """
            SELECT count(*)::int FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'
            """
        )
    }

    static func waitForLockWaiters(_ count: Int, in shop: OrdersFixture) async throws {
        for _ in 0..<3000 {
            if try await Self.lockWaiters(in: shop) >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        let activity = try await withClient(shop.database) { client in
            var lines: [String] = []
            for try await (state, wait, query) in try await client.query(
                """
                SELECT coalesce(state, ''), coalesce(wait_event_type, '') || ':' || coalesce(wait_event, ''), left(query, 100)
                FROM pg_stat_activity WHERE datname = current_database()
                """
            ).decode((String, String, String).self) {
                lines.append("\(state) \(wait) \(query)")
            }
            return lines
        }
        throw RaceSetupFailed("fewer than \(count) transactions ever waited for a lock: \(activity)")
    }

    /// Waits (a generous limit) until the event was applied: the payment succeeded and the order is paid.
    static func waitUntilApplied(_ shop: OrdersFixture, event: String, providerID: String) async throws {
        for _ in 0..<1500 {
            if try await Hooks.inboxStatus(shop, event: event) == "applied" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await Hooks.inboxStatus(shop, event: event) == "applied")
        let state = try await Hooks.state(shop, providerID: providerID)
        #expect(state.payment == "succeeded" && state.order == "paid", "\(state)")
    }

    struct RaceSetupFailed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
