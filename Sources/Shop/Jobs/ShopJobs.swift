import Logging
import PostgresNIO
import RedisSessions
import Scheduler

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The reference service's scheduled jobs: what each does, in one place.
///
/// - `catalog-cache-rebuild`: reloads the cached entries of the most-read products (today and yesterday), so
///   hot products never expire into a miss. Only when the cache is enabled.
/// - `cleanup`: deletes expired `Idempotency-Key` records, prunes session-index entries whose session is gone,
///   and removes job runs older than the history retention.
/// - `daily-sales`: aggregates the previous day's orders into `daily_sales` (idempotent per day).
struct ShopJobs: Sendable {
    let configuration: JobsConfiguration
    let postgres: Database
    let catalog: (any CatalogRefreshing)?
    let readCounter: CatalogReadCounter?
    let sessions: RedisSessionStore<AuthenticatedUser>
    let idempotencyRetention: Duration
    let sales: DailySalesRepository
    let logger: Logger

    static let cacheRebuild = "catalog-cache-rebuild"
    static let cleanup = "cleanup"
    static let dailySales = "daily-sales"

    /// The job definitions (schedules were validated with the configuration).
    func jobs() throws -> [ScheduledJob] {
        let zone = self.configuration.timeZone
        var jobs: [ScheduledJob] = []
        if let catalog = self.catalog, let readCounter = self.readCounter {
            let top = self.configuration.cacheRebuildTop
            jobs.append(
                ScheduledJob(
                    Self.cacheRebuild,
                    schedule: try Schedule.parse(self.configuration.cacheRebuildSchedule, timeZone: zone),
                    lockAtMostFor: .seconds(60),
                    lockAtLeastFor: .milliseconds(500),
                    timeout: .seconds(300)
                ) { context in
                    // This instance's latest counts first, so a manual run sees its own reads.
                    await readCounter.flush()
                    let ids = try await readCounter.mostRead(limit: top)
                    var refreshed = 0
                    for id in ids {
                        try context.lease.checkHeld()
                        if try await catalog.refreshCached(id: id) { refreshed += 1 }
                    }
                    context.logger.info(
                        "catalog cache rebuilt",
                        metadata: ["products": "\(ids.count)", "refreshed": "\(refreshed)"]
                    )
                }
            )
        }
        let retention = self.idempotencyRetention
        let historyRetention = self.configuration.historyRetention
        jobs.append(
            ScheduledJob(
                Self.cleanup,
                schedule: try Schedule.parse(self.configuration.cleanupSchedule, timeZone: zone),
                lockAtMostFor: .seconds(120),
                lockAtLeastFor: .milliseconds(500),
                timeout: .seconds(1800)
            ) { context in
                let records = try await self.deleteExpiredIdempotencyRecords(olderThan: retention, context: context)
                let indexEntries = try await self.pruneSessionIndexes(context: context)
                let cutoff = Date().addingTimeInterval(-Double(historyRetention.components.seconds))
                let runs = try await context.scheduler.pruneHistory(endedBefore: cutoff)
                let (outbox, processed) = try await self.deleteOldMessages(context: context)
                context.logger.info(
                    "expired data cleaned up",
                    metadata: [
                        "idempotencyRecords": "\(records)", "sessionIndexEntries": "\(indexEntries)",
                        "jobRuns": "\(runs)", "outboxRows": "\(outbox)", "processedMessages": "\(processed)",
                    ]
                )
            }
        )
        let calendar = SalesCalendar(timeZone: zone)
        let sales = self.sales
        jobs.append(
            ScheduledJob(
                Self.dailySales,
                schedule: try Schedule.parse(self.configuration.dailySalesSchedule, timeZone: zone),
                lockAtMostFor: .seconds(120),
                lockAtLeastFor: .seconds(1),
                timeout: .seconds(1800),
                // A day whose batch did not run (every instance was down at 00:05) runs when one comes back.
                missedTicks: .runOnce
            ) { context in
                let (day, start, end) = calendar.previousDay(of: context.tick)
                let rows = try await sales.aggregate(day: day, start: start, end: end)
                context.logger.info(
                    "daily sales aggregated",
                    metadata: ["day": "\(day)", "currencies": "\(rows.count)"]
                )
            }
        )
        return jobs
    }

    /// Deletes `Idempotency-Key` records past their retention, a batch at a time.
    func deleteExpiredIdempotencyRecords(olderThan retention: Duration, context: JobContext) async throws -> Int {
        try await self.deleteInBatches(
            from: "idempotency_records",
            where: "created_at",
            olderThan: Double(retention.components.seconds),
            context: context
        )
    }

    /// How long delivered outbox rows and processed-message records are kept (for inspection: nothing relies on
    /// them once the consumer's effects committed — the effects carry their own markers, such as
    /// `orders.processed_at` and `payment_events`, which live as long as what they mark).
    static let messageRetentionSeconds: Double = 7 * 86_400

    /// Deletes delivered outbox rows and `processed_messages` records older than the retention, in batches.
    func deleteOldMessages(context: JobContext) async throws -> (outbox: Int, processed: Int) {
        // Owed rows (not yet delivered) have no `completed_at`, so the age test alone keeps them.
        let outbox = try await self.deleteInBatches(
            from: "outbox",
            where: "completed_at",
            olderThan: Self.messageRetentionSeconds,
            context: context
        )
        let processed = try await self.deleteInBatches(
            from: "processed_messages",
            where: "processed_at",
            olderThan: Self.messageRetentionSeconds,
            context: context
        )
        return (outbox, processed)
    }

    /// Deletes the rows of `table` whose `column` is older than `seconds`, 1,000 at a time (short locks, bounded
    /// WAL per statement), checking the job's lease before each batch. `table` and `column` are names of ours.
    private func deleteInBatches(
        from table: String,
        where column: String,
        olderThan seconds: Double,
        context: JobContext
    ) async throws -> Int {
        var deleted = 0
        while true {
            try context.lease.checkHeld()
            let rows = try await self.postgres.query(
                """
                DELETE FROM \(unescaped: table) WHERE ctid IN (
                    SELECT ctid FROM \(unescaped: table)
                    WHERE \(unescaped: column) <= now() - make_interval(secs => \(seconds)) LIMIT 1000
                ) RETURNING 1
                """,
                logger: self.logger
            )
            var batch = 0
            for try await _ in rows.decode(Int.self) { batch += 1 }
            deleted += batch
            if batch < 1000 { return deleted }
        }
    }

    /// Prunes every user's session index (users read from PostgreSQL in pages, not from a Redis key scan).
    func pruneSessionIndexes(context: JobContext) async throws -> Int {
        var pruned = 0
        var after = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        while true {
            try context.lease.checkHeld()
            let rows = try await self.postgres.query(
                "SELECT id FROM users WHERE id > \(after) ORDER BY id LIMIT 500",
                logger: self.logger
            )
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            for id in ids {
                pruned += try await self.sessions.pruneIndex(userID: id.uuidString.lowercased())
            }
            guard let last = ids.last, ids.count == 500 else { return pruned }
            after = last
        }
    }
}

/// What the cache-rebuild job needs of the catalog.
protocol CatalogRefreshing: Sendable {
    func refreshCached(id: UUID) async throws -> Bool
}

extension CatalogService: CatalogRefreshing {}
