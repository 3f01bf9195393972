import Logging
import Metrics
import NIOCore
import PostgresNIO
import RedisClient
import ServiceLifecycle
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Publishes the outbox to the queue (a `Service` on every instance), and keeps publishing each event until its
/// consumer has committed its effects.
///
/// Each pass takes up to `batchSize` owed rows that are due — never published, or published more than
/// `resendAfter` ago without their consumer having recorded their effects (`completed_at`, written in the
/// consumer's own transaction) — with `FOR UPDATE SKIP LOCKED` (so instances share the work and never publish the
/// same row at the same time), publishes them in one pipeline with the row id as the message id, records the
/// publish, and commits.
///
/// Redis acknowledging an `XADD` does not make the event delivered: Redis can lose it afterwards (an `everysec`
/// append-only file, a failover to a replica that had not received it, a restore from an older snapshot). A row
/// stays owed until its effects committed, so such an event is published again after `resendAfter`. The queue's
/// deduplication marker for the message id (written in the same script as the entry, so lost together with it)
/// makes a re-send a no-op while Redis still holds the first copy, and consumers are idempotent by message id
/// in any case. If the process dies after publishing but before the commit, the next pass publishes the rows
/// again with the same effect. If Redis is unreachable the transaction rolls back and the rows wait (backing off
/// up to 5 s). An event in the outbox is never lost.
final class OutboxRelay: Service, Sendable {
    let postgres: Database
    let queue: StreamQueue
    let interval: Duration
    let resendAfter: Duration
    let batchSize: Int
    let logger: Logger
    private let wakeup = Wakeup()
    private let published = Counter(label: "shop_outbox_published_total")
    private let resent = Counter(label: "shop_outbox_resent_total")
    private let recovered = Counter(label: "shop_outbox_recovered_total")
    private let failures = Counter(label: "shop_outbox_publish_failures_total")

    /// How long the queue remembers a published message id: a re-send within it is dropped while Redis still has
    /// the first copy; a re-send after it adds a second copy (harmless: consumers are idempotent).
    static let deduplicationWindow = Duration.seconds(600)

    init(
        postgres: Database,
        queue: StreamQueue,
        interval: Duration,
        resendAfter: Duration = .seconds(120),
        batchSize: Int = 200,
        logger: Logger
    ) {
        self.postgres = postgres
        self.queue = queue
        self.interval = interval
        self.resendAfter = resendAfter
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Asks for a pass now (after a commit that wrote events), instead of at the next interval.
    func nudge() {
        self.wakeup.signal()
    }

    func run() async throws {
        var failures = 0
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    // A pass stuck on an unreachable database must not hold up shutdown.
                    let refused = try await cancelWhenGracefulShutdown {
                        var pass = try await self.pass()
                        while pass.published == self.batchSize { pass = try await self.pass() }
                        return pass.refused
                    }
                    if refused > 0 { throw RedisRefused(rows: refused) }
                    failures = 0
                } catch {
                    failures += 1
                    self.failures.increment()
                    if failures == 1 || failures % 20 == 0 {
                        self.logger.warning(
                            "outbox relay cannot publish; events stay in the outbox",
                            metadata: ["error": "\(error)", "attempt": "\(failures)"]
                        )
                    }
                }
                let pause = failures == 0 ? self.interval : min(.seconds(5), self.interval * (1 << min(failures, 5)))
                await self.wakeup.wait(upTo: pause)
            }
        } onGracefulShutdown: {
            self.wakeup.close()
        }
        // A last pass, so events of requests that finished during the drain go out now rather than later —
        // unless the last one failed (the database or Redis is down: the next start publishes them).
        if failures == 0 { _ = try? await self.pass() }
    }

    struct RedisRefused: Error, CustomStringConvertible {
        let rows: Int
        var description: String { "Redis refused \(self.rows) event(s); they stay in the outbox" }
    }

    /// What one pass did.
    struct Pass {
        /// Rows published (first time or again).
        var published: Int
        /// Rows Redis refused (they stay for a later pass).
        var refused: Int
        /// Rows published again that Redis no longer had (it lost them after acknowledging them).
        var recovered: Int
    }

    /// One row, as a pass reads it.
    private struct Row {
        var id: UUID
        var topic: String
        var message: OutgoingMessage
        var isResend: Bool
    }

    /// One batch.
    @discardableResult
    func pass() async throws -> Pass {
        let resendSeconds =
            Double(self.resendAfter.components.seconds)
            + Double(self.resendAfter.components.attoseconds) / 1e18
        return try await self.postgres.transaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, topic, type, message_key, payload, headers::text, published_at IS NOT NULL FROM outbox
                WHERE completed_at IS NULL AND attempts < 100
                    AND (published_at IS NULL OR published_at <= now() - make_interval(secs => \(resendSeconds)))
                ORDER BY created_at, id LIMIT \(self.batchSize) FOR UPDATE SKIP LOCKED
                """,
                logger: self.logger
            )
            var byTopic: [String: [Row]] = [:]
            for try await (id, topic, type, key, payload, headers, wasPublished) in rows.decode(
                (UUID, String, String, String?, String, String, Bool).self
            ) {
                let fields = (try? JSONCoding.decoder.decode([String: String].self, from: Data(headers.utf8))) ?? [:]
                let message = OutgoingMessage(
                    id: id.uuidString.lowercased(),
                    type: type,
                    payload: payload,
                    headers: fields,
                    key: key
                )
                byTopic[topic, default: []].append(Row(id: id, topic: topic, message: message, isResend: wasPublished))
            }
            var done: [UUID] = []
            var unusable: [UUID] = []
            var refused: [UUID] = []
            var recovered: [UUID] = []
            var problems: [String] = []
            for (topic, batch) in byTopic {
                let results: [Result<PublishReceipt, RedisError>]
                do {
                    results = try await self.queue.publish(
                        batch.map(\.message),
                        to: topic,
                        deduplicationWindow: Self.deduplicationWindow
                    )
                } catch let error as StreamQueueError {
                    // The rows themselves are unusable (a bad topic or type): keep them out of the way of the
                    // rest, with the reason, after they failed often enough (see the query's `attempts` bound).
                    unusable += batch.map(\.id)
                    problems.append("\(error)")
                    continue
                }
                for (row, result) in zip(batch, results) {
                    switch result {
                    case .success(let receipt):
                        done.append(row.id)
                        // A re-send that Redis did not recognise: it had lost the first copy.
                        if row.isResend && !receipt.isDuplicate { recovered.append(row.id) }
                    case .failure(let error):
                        // Redis refused it (out of memory, a read-only replica): worth trying again, later.
                        refused.append(row.id)
                        problems.append("\(error)")
                    }
                }
            }
            let reason = String((problems.first ?? "").prefix(500))
            if !unusable.isEmpty {
                // Only rows that can never be published count towards the `attempts` bound.
                try await connection.query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = \(reason) WHERE id = ANY(\(unusable))",
                    logger: self.logger
                )
            }
            if !refused.isEmpty {
                try await connection.query(
                    "UPDATE outbox SET last_error = \(reason) WHERE id = ANY(\(refused))",
                    logger: self.logger
                )
            }
            if !done.isEmpty {
                try await connection.query(
                    """
                    UPDATE outbox SET published_at = now(), publish_count = publish_count + 1
                    WHERE id = ANY(\(done))
                    """,
                    logger: self.logger
                )
                self.published.increment(by: done.count)
            }
            let resends = byTopic.values.joined().filter { $0.isResend && done.contains($0.id) }.count
            if resends > 0 { self.resent.increment(by: resends) }
            if !recovered.isEmpty {
                self.recovered.increment(by: recovered.count)
                self.logger.warning(
                    "outbox events Redis had lost were published again",
                    metadata: ["count": "\(recovered.count)"]
                )
            }
            return Pass(published: done.count, refused: refused.count, recovered: recovered.count)
        }
    }
}
