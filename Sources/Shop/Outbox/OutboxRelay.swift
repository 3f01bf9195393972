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

/// Publishes the outbox to the queue (a `Service` on every instance).
///
/// Each pass takes up to `batchSize` unpublished rows with `FOR UPDATE SKIP LOCKED` (so instances share the work
/// and never publish the same row at the same time), publishes them in one pipeline with the row id as the
/// message id, marks the published ones, and commits. If Redis is unreachable the transaction rolls back and
/// the rows wait for the next pass (backing off up to 5 s). If the process dies after publishing but before
/// the commit, a later pass publishes the rows again: the queue drops the duplicate within its deduplication
/// window and consumers deduplicate on the message id anyway. An event in the outbox is never lost.
final class OutboxRelay: Service, Sendable {
    let postgres: PostgresClient
    let queue: StreamQueue
    let interval: Duration
    let batchSize: Int
    let logger: Logger
    private let wakeup = Wakeup()
    private let published = Counter(label: "shop_outbox_published_total")
    private let failures = Counter(label: "shop_outbox_publish_failures_total")

    init(postgres: PostgresClient, queue: StreamQueue, interval: Duration, batchSize: Int = 200, logger: Logger) {
        self.postgres = postgres
        self.queue = queue
        self.interval = interval
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
        var published: Int
        /// Rows Redis refused (they stay for a later pass).
        var refused: Int
    }

    /// One batch.
    @discardableResult
    func pass() async throws -> Pass {
        try await self.postgres.transaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, topic, type, message_key, payload, headers::text FROM outbox
                WHERE published_at IS NULL AND attempts < 100
                ORDER BY created_at, id LIMIT \(self.batchSize) FOR UPDATE SKIP LOCKED
                """,
                logger: self.logger
            )
            var byTopic: [String: [OutgoingMessage]] = [:]
            for try await (id, topic, type, key, payload, headers) in rows.decode(
                (UUID, String, String, String?, String, String).self
            ) {
                let fields = (try? JSONCoding.decoder.decode([String: String].self, from: Data(headers.utf8))) ?? [:]
                byTopic[topic, default: []].append(
                    OutgoingMessage(
                        id: id.uuidString.lowercased(),
                        type: type,
                        payload: payload,
                        headers: fields,
                        key: key
                    )
                )
            }
            var done: [UUID] = []
            var unusable: [UUID] = []
            var refused: [UUID] = []
            var problems: [String] = []
            for (topic, messages) in byTopic {
                let results: [Result<PublishReceipt, RedisError>]
                do {
                    results = try await self.queue.publish(messages, to: topic, deduplicationWindow: .seconds(86_400))
                } catch let error as StreamQueueError {
                    // The rows themselves are unusable (a bad topic or type): keep them out of the way of the
                    // rest, with the reason, after they failed often enough (see the query's `attempts` bound).
                    unusable += messages.compactMap { UUID(uuidString: $0.id) }
                    problems.append("\(error)")
                    continue
                }
                for (message, result) in zip(messages, results) {
                    guard let id = UUID(uuidString: message.id) else { continue }
                    switch result {
                    case .success: done.append(id)
                    case .failure(let error):
                        // Redis refused it (out of memory, a read-only replica): worth trying again, later.
                        refused.append(id)
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
                    "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY(\(done))",
                    logger: self.logger
                )
                self.published.increment(by: done.count)
            }
            return Pass(published: done.count, refused: refused.count)
        }
    }
}
