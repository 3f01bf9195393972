public import Configuration
import Scheduler

/// Scheduled jobs (`JOBS_*`): whether this instance runs them, their schedules and tunables.
///
/// Every field is one documented key (`docs/operations.md`); ``ShopConfiguration/init(reader:)`` reads them
/// through ``read(from:)``. Schedules are `@every <n>ms|s|m|h` or five-field cron expressions in
/// ``timeZone``; a bad one stops the process at start with one line naming the key.
public struct JobsConfiguration: Sendable, Equatable {
    /// Whether this instance runs the scheduler (`JOBS_ENABLED`, default true). Instances that do not still
    /// answer the admin API, and jobs still run once per tick on the instances that do.
    public var enabled: Bool
    /// The time zone of cron schedules and of the daily sales day (`JOBS_TIME_ZONE`, default `UTC`).
    public var timeZone: String
    /// When the catalog cache of the most-read products is rebuilt (`JOBS_CACHE_REBUILD_SCHEDULE`, default
    /// `@every 5m`).
    public var cacheRebuildSchedule: String
    /// How many of the most-read products the rebuild refreshes (`JOBS_CACHE_REBUILD_TOP`, default 50).
    public var cacheRebuildTop: Int
    /// When expired data is cleaned up (`JOBS_CLEANUP_SCHEDULE`, default `@every 1h`).
    public var cleanupSchedule: String
    /// When the previous day's sales are aggregated (`JOBS_DAILY_SALES_SCHEDULE`, default `5 0 * * *`).
    public var dailySalesSchedule: String
    /// Job runs older than this are removed by the cleanup (`JOBS_HISTORY_RETENTION_HOURS`, default 168).
    public var historyRetention: Duration
    /// On shutdown, running jobs get this long to finish (`JOBS_SHUTDOWN_GRACE_SECONDS`, default 10).
    public var shutdownGracePeriod: Duration
    /// How often each instance adds its product read counts to Redis (`JOBS_READ_COUNTS_FLUSH_MS`, default 5000).
    public var readCountsFlushInterval: Duration
    /// Prefix of the scheduler's Redis keys and job locks (`JOBS_KEY_PREFIX`, default `shop:jobs:`).
    public var keyPrefix: String

    /// The defaults.
    public init() {
        self.enabled = true
        self.timeZone = "UTC"
        self.cacheRebuildSchedule = "@every 5m"
        self.cacheRebuildTop = 50
        self.cleanupSchedule = "@every 1h"
        self.dailySalesSchedule = "5 0 * * *"
        self.historyRetention = .seconds(168 * 3600)
        self.shutdownGracePeriod = .seconds(10)
        self.readCountsFlushInterval = .milliseconds(5000)
        self.keyPrefix = "shop:jobs:"
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.jobsEnabled) {
            self.enabled = try ShopConfiguration.bool(value, key: .jobsEnabled)
        }
        if let value = read(.jobsTimeZone) {
            guard (try? Schedule.parse("0 0 * * *", timeZone: value)) != nil else {
                throw ConfigurationError(
                    variable: Key.jobsTimeZone.variable,
                    problem:
                        "\(ShopConfiguration.quoted(value)) is not a time zone (an IANA name such as Europe/Berlin)"
                )
            }
            self.timeZone = value
        }
        if let value = read(.jobsCacheRebuildSchedule) { self.cacheRebuildSchedule = value }
        if let value = read(.jobsCleanupSchedule) { self.cleanupSchedule = value }
        if let value = read(.jobsDailySalesSchedule) { self.dailySalesSchedule = value }
        // Checked after the time zone is known.
        for (key, value) in [
            (Key.jobsCacheRebuildSchedule, self.cacheRebuildSchedule), (.jobsCleanupSchedule, self.cleanupSchedule),
            (.jobsDailySalesSchedule, self.dailySalesSchedule),
        ] {
            do {
                _ = try Schedule.parse(value, timeZone: self.timeZone)
            } catch {
                throw ConfigurationError(variable: key.variable, problem: "\(error)")
            }
        }
        if let value = read(.jobsCacheRebuildTop) {
            self.cacheRebuildTop = try ShopConfiguration.integer(value, in: 1...10_000, key: .jobsCacheRebuildTop)
        }
        if let value = read(.jobsHistoryRetentionHours) {
            self.historyRetention = .seconds(
                3600 * (try ShopConfiguration.integer(value, in: 1...8760, key: .jobsHistoryRetentionHours))
            )
        }
        if let value = read(.jobsShutdownGraceSeconds) {
            self.shutdownGracePeriod = .seconds(
                try ShopConfiguration.integer(value, in: 0...3600, key: .jobsShutdownGraceSeconds)
            )
        }
        if let value = read(.jobsReadCountsFlushMs) {
            self.readCountsFlushInterval = .milliseconds(
                try ShopConfiguration.integer(value, in: 10...600_000, key: .jobsReadCountsFlushMs)
            )
        }
        if let value = read(.jobsKeyPrefix) {
            self.keyPrefix = try ShopConfiguration.keyPrefix(value, key: .jobsKeyPrefix)
        }
    }
}

extension ShopConfiguration.Key {
    /// `JOBS_ENABLED`: `true` or `false`. Default `true`.
    public static let jobsEnabled = Self("jobs.enabled", "JOBS_ENABLED", "--jobs-enabled")
    /// `JOBS_TIME_ZONE`: an IANA time zone. Default `UTC`.
    public static let jobsTimeZone = Self("jobs.timeZone", "JOBS_TIME_ZONE", "--jobs-time-zone")
    /// `JOBS_CACHE_REBUILD_SCHEDULE`: `@every <n>ms|s|m|h` or cron. Default `@every 5m`.
    public static let jobsCacheRebuildSchedule = Self(
        "jobs.cacheRebuildSchedule",
        "JOBS_CACHE_REBUILD_SCHEDULE",
        "--jobs-cache-rebuild-schedule"
    )
    /// `JOBS_CACHE_REBUILD_TOP`: 1–10000. Default `50`.
    public static let jobsCacheRebuildTop = Self(
        "jobs.cacheRebuildTop",
        "JOBS_CACHE_REBUILD_TOP",
        "--jobs-cache-rebuild-top"
    )
    /// `JOBS_CLEANUP_SCHEDULE`: `@every <n>ms|s|m|h` or cron. Default `@every 1h`.
    public static let jobsCleanupSchedule = Self(
        "jobs.cleanupSchedule",
        "JOBS_CLEANUP_SCHEDULE",
        "--jobs-cleanup-schedule"
    )
    /// `JOBS_DAILY_SALES_SCHEDULE`: `@every <n>ms|s|m|h` or cron. Default `5 0 * * *`.
    public static let jobsDailySalesSchedule = Self(
        "jobs.dailySalesSchedule",
        "JOBS_DAILY_SALES_SCHEDULE",
        "--jobs-daily-sales-schedule"
    )
    /// `JOBS_HISTORY_RETENTION_HOURS`: 1–8760. Default `168`.
    public static let jobsHistoryRetentionHours = Self(
        "jobs.historyRetentionHours",
        "JOBS_HISTORY_RETENTION_HOURS",
        "--jobs-history-retention-hours"
    )
    /// `JOBS_SHUTDOWN_GRACE_SECONDS`: 0–3600. Default `10`.
    public static let jobsShutdownGraceSeconds = Self(
        "jobs.shutdownGraceSeconds",
        "JOBS_SHUTDOWN_GRACE_SECONDS",
        "--jobs-shutdown-grace-seconds"
    )
    /// `JOBS_READ_COUNTS_FLUSH_MS`: 10–600000. Default `5000`.
    public static let jobsReadCountsFlushMs = Self(
        "jobs.readCountsFlushMs",
        "JOBS_READ_COUNTS_FLUSH_MS",
        "--jobs-read-counts-flush-ms"
    )
    /// `JOBS_KEY_PREFIX`: 0–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:jobs:`.
    public static let jobsKeyPrefix = Self("jobs.keyPrefix", "JOBS_KEY_PREFIX", "--jobs-key-prefix")

    /// The jobs keys, in the order `docs/operations.md` lists them.
    public static let jobs: [Self] = [
        .jobsEnabled, .jobsTimeZone, .jobsCacheRebuildSchedule, .jobsCacheRebuildTop, .jobsCleanupSchedule,
        .jobsDailySalesSchedule, .jobsHistoryRetentionHours, .jobsShutdownGraceSeconds, .jobsReadCountsFlushMs,
        .jobsKeyPrefix,
    ]
}
