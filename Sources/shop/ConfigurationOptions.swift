import ArgumentParser
import Configuration
import Foundation
import Logging
import OTel
import Shop

/// The configuration flags every subcommand accepts; unset flags fall back to the environment.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .customLong("http-host"), help: "Address to listen on (HTTP_HOST, default 127.0.0.1).")
    var httpHost: String?

    @Option(name: .customLong("http-port"), help: "Port to listen on, 1-65535 (HTTP_PORT, default 8080).")
    var httpPort: String?

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (DATABASE_URL).")
    var databaseURL: String?

    @Option(
        name: .customLong("database-max-connections"),
        help: "PostgreSQL pool size, 1-1000 (DATABASE_MAX_CONNECTIONS, default 10)."
    )
    var databaseMaxConnections: String?

    @Option(
        name: .customLong("database-migrate-on-start"),
        help: "Apply pending migrations when serve starts (DATABASE_MIGRATE_ON_START, default true)."
    )
    var databaseMigrateOnStart: String?

    @Option(
        name: .customLong("database-startup-timeout-ms"),
        help: "Milliseconds to wait for PostgreSQL at start, 1-600000 (DATABASE_STARTUP_TIMEOUT_MS, default 15000)."
    )
    var databaseStartupTimeoutMs: String?

    @Option(
        name: .customLong("database-request-wait-ms"),
        help:
            "Milliseconds a request waits for a database connection before 503, 1-60000 (DATABASE_REQUEST_WAIT_MS, default 2000)."
    )
    var databaseRequestWaitMs: String?

    @Option(
        name: .customLong("database-idle-transaction-timeout-ms"),
        help:
            "Milliseconds PostgreSQL lets a session sit idle inside a transaction before ending it, 1000-3600000 (DATABASE_IDLE_TRANSACTION_TIMEOUT_MS, default 60000)."
    )
    var databaseIdleTransactionTimeoutMs: String?

    @Option(name: .customLong("redis-url"), help: "Redis URL (REDIS_URL, default redis://127.0.0.1:6379/0).")
    var redisURL: String?

    @Option(name: .customLong("instance-id"), help: "This instance's name (INSTANCE_ID, default <hostname>-<pid>).")
    var instanceID: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text or json: one JSON object per line (LOG_FORMAT, default text).")
    var logFormat: String?

    @Option(
        name: .customLong("health-timeout-ms"),
        help: "Milliseconds one readiness check may take, 1-60000 (HEALTH_TIMEOUT_MS, default 1000)."
    )
    var healthTimeoutMs: String?

    @Option(
        name: .customLong("session-idle-timeout-seconds"),
        help: "Sliding session idle timeout, 1-604800 (SESSION_IDLE_TIMEOUT_SECONDS, default 1800)."
    )
    var sessionIdleTimeoutSeconds: String?

    @Option(
        name: .customLong("session-absolute-lifetime-seconds"),
        help: "Absolute session lifetime, 1-31536000 (SESSION_ABSOLUTE_LIFETIME_SECONDS, default 43200)."
    )
    var sessionAbsoluteLifetimeSeconds: String?

    @Option(
        name: .customLong("session-touch-interval-seconds"),
        help: "Least seconds between two last-seen writes, 0-3600 (SESSION_TOUCH_INTERVAL_SECONDS, default 60)."
    )
    var sessionTouchIntervalSeconds: String?

    @Option(
        name: .customLong("session-cookie-secure"),
        help: "Mark the session cookie Secure (SESSION_COOKIE_SECURE, default false)."
    )
    var sessionCookieSecure: String?

    @Option(
        name: .customLong("session-key-prefix"),
        help: "Prefix of session and sign-in limit keys in Redis (SESSION_KEY_PREFIX, default shop:auth:)."
    )
    var sessionKeyPrefix: String?

    @Option(
        name: .customLong("login-rate-limit-window-seconds"),
        help: "Sign-in rate-limit window, 1-86400 (LOGIN_RATE_LIMIT_WINDOW_SECONDS, default 900)."
    )
    var loginRateLimitWindowSeconds: String?

    @Option(
        name: .customLong("login-max-attempts-per-account"),
        help: "Sign-in attempts per account and window (LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, default 10)."
    )
    var loginMaxAttemptsPerAccount: String?

    @Option(
        name: .customLong("login-max-attempts-per-address"),
        help:
            "Sign-in and registration attempts per client address and window (LOGIN_MAX_ATTEMPTS_PER_ADDRESS, default 100)."
    )
    var loginMaxAttemptsPerAddress: String?

    @Option(
        name: .customLong("trust-proxy"),
        help: "Take the client address from the last X-Forwarded-For entry (TRUST_PROXY, default false)."
    )
    var trustProxy: String?

    @Option(
        name: .customLong("password-hash-cost"),
        help: "bcrypt cost of new password hashes, 4-16 (PASSWORD_HASH_COST, default 12)."
    )
    var passwordHashCost: String?

    @Option(
        name: .customLong("csrf-trusted-origins"),
        help: "Comma-separated extra origins allowed to send state-changing requests (CSRF_TRUSTED_ORIGINS)."
    )
    var csrfTrustedOrigins: String?

    @Option(
        name: .customLong("cache-enabled"),
        help: "Read the catalog through Redis (CACHE_ENABLED, default true)."
    )
    var cacheEnabled: String?

    @Option(
        name: .customLong("cache-key-prefix"),
        help: "Prefix of the catalog cache's Redis keys (CACHE_KEY_PREFIX, default shop:cache:)."
    )
    var cacheKeyPrefix: String?

    @Option(
        name: .customLong("cache-ttl-seconds"),
        help: "Seconds a cached product stays fresh, 1-86400 (CACHE_TTL_SECONDS, default 300)."
    )
    var cacheTTLSeconds: String?

    @Option(
        name: .customLong("cache-list-ttl-seconds"),
        help: "Seconds a cached list page stays fresh, 1-86400 (CACHE_LIST_TTL_SECONDS, default 60)."
    )
    var cacheListTTLSeconds: String?

    @Option(
        name: .customLong("cache-points-ttl-seconds"),
        help: "Seconds the Redis copy of a user's points may live, 1-86400 (CACHE_POINTS_TTL_SECONDS, default 3600)."
    )
    var cachePointsTTLSeconds: String?

    @Option(
        name: .customLong("cache-negative-ttl-seconds"),
        help: "Seconds a missing product stays cached as missing, 0-3600 (CACHE_NEGATIVE_TTL_SECONDS, default 10)."
    )
    var cacheNegativeTTLSeconds: String?

    @Option(
        name: .customLong("cache-stale-seconds"),
        help: "Seconds an expired entry may be served while it is refreshed, 0-86400 (CACHE_STALE_SECONDS, default 30)."
    )
    var cacheStaleSeconds: String?

    @Option(
        name: .customLong("cache-ttl-jitter-percent"),
        help: "TTL spread in percent, 0-50 (CACHE_TTL_JITTER_PERCENT, default 10)."
    )
    var cacheTTLJitterPercent: String?

    @Option(
        name: .customLong("cache-redis-timeout-ms"),
        help: "Milliseconds one cache call to Redis may take, 1-10000 (CACHE_REDIS_TIMEOUT_MS, default 100)."
    )
    var cacheRedisTimeoutMs: String?

    @Option(
        name: .customLong("cache-stampede-wait-ms"),
        help: "Milliseconds a miss waits for another caller's fill, 0-60000 (CACHE_STAMPEDE_WAIT_MS, default 1000)."
    )
    var cacheStampedeWaitMs: String?

    @Option(
        name: .customLong("cache-breaker-failures"),
        help: "Consecutive Redis failures that open the cache breaker, 1-1000 (CACHE_BREAKER_FAILURES, default 5)."
    )
    var cacheBreakerFailures: String?

    @Option(
        name: .customLong("cache-breaker-cooldown-ms"),
        help: "Milliseconds the open breaker bypasses Redis, 0-600000 (CACHE_BREAKER_COOLDOWN_MS, default 2000)."
    )
    var cacheBreakerCooldownMs: String?

    @Option(
        name: .customLong("inventory-strategy"),
        help:
            "conditional-update, select-for-update, redis-counter or lock (INVENTORY_STRATEGY, default conditional-update)."
    )
    var inventoryStrategy: String?

    @Option(
        name: .customLong("inventory-lock-lease-ms"),
        help: "Product lock lease of the lock strategy, 10-600000 (INVENTORY_LOCK_LEASE_MS, default 5000)."
    )
    var inventoryLockLeaseMs: String?

    @Option(
        name: .customLong("inventory-lock-wait-ms"),
        help: "How long an order waits for a product lock, 0-600000 (INVENTORY_LOCK_WAIT_MS, default 10000)."
    )
    var inventoryLockWaitMs: String?

    @Option(
        name: .customLong("idempotency-retention-seconds"),
        help:
            "How long Idempotency-Key outcomes are replayed, 1-2592000 (IDEMPOTENCY_RETENTION_SECONDS, default 86400)."
    )
    var idempotencyRetentionSeconds: String?

    @Option(
        name: .customLong("idempotency-claim-timeout-seconds"),
        help: "Lifetime of a running request's key claim, 1-3600 (IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS, default 60)."
    )
    var idempotencyClaimTimeoutSeconds: String?

    @Option(
        name: .customLong("orders-key-prefix"),
        help: "Prefix of the Redis keys of orders (ORDERS_KEY_PREFIX, default shop:orders:)."
    )
    var ordersKeyPrefix: String?

    @Option(
        name: .customLong("jobs-enabled"),
        help: "Whether this instance runs scheduled jobs: true or false (JOBS_ENABLED, default true)."
    )
    var jobsEnabled: String?

    @Option(
        name: .customLong("jobs-time-zone"),
        help: "Time zone of cron schedules and the daily sales day (JOBS_TIME_ZONE, default UTC)."
    )
    var jobsTimeZone: String?

    @Option(
        name: .customLong("jobs-cache-rebuild-schedule"),
        help:
            "When the hot catalog entries are rebuilt: @every <n>ms|s|m|h or cron (JOBS_CACHE_REBUILD_SCHEDULE, default @every 5m)."
    )
    var jobsCacheRebuildSchedule: String?

    @Option(
        name: .customLong("jobs-cache-rebuild-top"),
        help: "How many most-read products the rebuild refreshes, 1-10000 (JOBS_CACHE_REBUILD_TOP, default 50)."
    )
    var jobsCacheRebuildTop: String?

    @Option(
        name: .customLong("jobs-cleanup-schedule"),
        help: "When expired data is cleaned up: @every or cron (JOBS_CLEANUP_SCHEDULE, default @every 1h)."
    )
    var jobsCleanupSchedule: String?

    @Option(
        name: .customLong("jobs-daily-sales-schedule"),
        help:
            "When the previous day's sales are aggregated: @every or cron (JOBS_DAILY_SALES_SCHEDULE, default \"5 0 * * *\")."
    )
    var jobsDailySalesSchedule: String?

    @Option(
        name: .customLong("jobs-history-retention-hours"),
        help: "Job runs older than this are removed, 1-8760 (JOBS_HISTORY_RETENTION_HOURS, default 168)."
    )
    var jobsHistoryRetentionHours: String?

    @Option(
        name: .customLong("jobs-shutdown-grace-seconds"),
        help: "Seconds running jobs may finish at shutdown, 0-3600 (JOBS_SHUTDOWN_GRACE_SECONDS, default 10)."
    )
    var jobsShutdownGraceSeconds: String?

    @Option(
        name: .customLong("jobs-read-counts-flush-ms"),
        help:
            "Milliseconds between flushes of product read counts, 10-600000 (JOBS_READ_COUNTS_FLUSH_MS, default 5000)."
    )
    var jobsReadCountsFlushMs: String?

    @Option(
        name: .customLong("jobs-key-prefix"),
        help: "Prefix of the scheduler's Redis keys (JOBS_KEY_PREFIX, default shop:jobs:)."
    )
    var jobsKeyPrefix: String?

    @Option(
        name: .customLong("notifications-channel"),
        help: "Redis channel instances announce notifications on (NOTIFICATIONS_CHANNEL, default shop:notifications)."
    )
    var notificationsChannel: String?

    @Option(
        name: .customLong("notifications-stream-buffer"),
        help:
            "Events buffered per open stream before a slow client is dropped, 1-100000 (NOTIFICATIONS_STREAM_BUFFER, default 256)."
    )
    var notificationsStreamBuffer: String?

    @Option(
        name: .customLong("notifications-max-streams"),
        help: "Open notification streams one instance accepts, 1-1000000 (NOTIFICATIONS_MAX_STREAMS, default 10000)."
    )
    var notificationsMaxStreams: String?

    @Option(
        name: .customLong("notifications-max-streams-per-user"),
        help:
            "Open notification streams one user may have on one instance, 1-1000 (NOTIFICATIONS_MAX_STREAMS_PER_USER, default 5)."
    )
    var notificationsMaxStreamsPerUser: String?

    @Option(
        name: .customLong("notifications-heartbeat-seconds"),
        help:
            "Seconds between keep-alive comments on idle streams, 1-3600 (NOTIFICATIONS_HEARTBEAT_SECONDS, default 15)."
    )
    var notificationsHeartbeatSeconds: String?

    @Option(
        name: .customLong("notifications-low-stock-threshold"),
        help:
            "Admins are notified when an order leaves this many units or fewer, 0-1000000 (NOTIFICATIONS_LOW_STOCK_THRESHOLD, default 5)."
    )
    var notificationsLowStockThreshold: String?

    @Option(
        name: .customLong("queue-key-prefix"),
        help: "Prefix of the queue's Redis keys (QUEUE_KEY_PREFIX, default shop:queue:)."
    )
    var queueKeyPrefix: String?

    @Option(
        name: .customLong("queue-consumers-enabled"),
        help: "Whether this instance runs the queue consumers: true or false (QUEUE_CONSUMERS_ENABLED, default true)."
    )
    var queueConsumersEnabled: String?

    @Option(
        name: .customLong("queue-concurrency"),
        help: "Messages handled at once per consumer and instance, 1-1000 (QUEUE_CONCURRENCY, default 8)."
    )
    var queueConcurrency: String?

    @Option(
        name: .customLong("queue-visibility-timeout-ms"),
        help:
            "After this long without a heartbeat another instance takes a message over, 100-3600000 (QUEUE_VISIBILITY_TIMEOUT_MS, default 30000)."
    )
    var queueVisibilityTimeoutMs: String?

    @Option(
        name: .customLong("queue-max-attempts"),
        help:
            "Attempts that failed for the message's own reasons before it is dead-lettered, 1-100 (QUEUE_MAX_ATTEMPTS, default 5)."
    )
    var queueMaxAttempts: String?

    @Option(
        name: .customLong("queue-max-deliveries"),
        help:
            "Deliveries to consumers that died before a message is dead-lettered, 1-1000 (QUEUE_MAX_DELIVERIES, default 20)."
    )
    var queueMaxDeliveries: String?

    @Option(
        name: .customLong("queue-transient-backoff-max-ms"),
        help:
            "Longest wait between tries after a transient failure, 10-3600000 (QUEUE_TRANSIENT_BACKOFF_MAX_MS, default 30000)."
    )
    var queueTransientBackoffMaxMs: String?

    @Option(
        name: .customLong("queue-shutdown-grace-seconds"),
        help: "Seconds messages in progress may finish at shutdown, 0-3600 (QUEUE_SHUTDOWN_GRACE_SECONDS, default 10)."
    )
    var queueShutdownGraceSeconds: String?

    @Option(
        name: .customLong("outbox-relay-enabled"),
        help: "Whether this instance publishes the outbox: true or false (OUTBOX_RELAY_ENABLED, default true)."
    )
    var outboxRelayEnabled: String?

    @Option(
        name: .customLong("outbox-poll-interval-ms"),
        help:
            "Milliseconds between outbox passes when nothing woke the relay, 10-600000 (OUTBOX_POLL_INTERVAL_MS, default 500)."
    )
    var outboxPollIntervalMs: String?

    @Option(
        name: .customLong("outbox-resend-after-ms"),
        help:
            "Milliseconds after which an event not yet handled is published again, 100-86400000 (OUTBOX_RESEND_AFTER_MS, default 120000)."
    )
    var outboxResendAfterMs: String?

    @Option(
        name: .customLong("orders-post-processing-delay-ms"),
        help:
            "Simulated long-running work in the order post-processing, 0-600000 (ORDERS_POST_PROCESSING_DELAY_MS, default 0)."
    )
    var ordersPostProcessingDelayMs: String?

    @Option(
        name: .customLong("rates-provider-url"),
        help: "Base URL of the exchange-rate provider (RATES_PROVIDER_URL, default http://127.0.0.1:8090)."
    )
    var ratesProviderURL: String?

    @Option(
        name: .customLong("rates-cache-ttl-seconds"),
        help: "Seconds a fetched rate is served from the cache, 1-86400 (RATES_CACHE_TTL_SECONDS, default 60)."
    )
    var ratesCacheTTLSeconds: String?

    @Option(
        name: .customLong("rates-attempt-timeout-ms"),
        help: "Milliseconds one call to the rate provider may take, 1-60000 (RATES_ATTEMPT_TIMEOUT_MS, default 500)."
    )
    var ratesAttemptTimeoutMs: String?

    @Option(
        name: .customLong("rates-max-attempts"),
        help: "Attempts per rate lookup, 1-10 (RATES_MAX_ATTEMPTS, default 3)."
    )
    var ratesMaxAttempts: String?

    @Option(
        name: .customLong("rates-breaker-min-calls"),
        help: "Calls before the breaker judges the failure rate, 1-1000 (RATES_BREAKER_MIN_CALLS, default 5)."
    )
    var ratesBreakerMinCalls: String?

    @Option(
        name: .customLong("rates-breaker-open-seconds"),
        help: "Seconds the open breaker refuses calls before a trial, 1-3600 (RATES_BREAKER_OPEN_SECONDS, default 10)."
    )
    var ratesBreakerOpenSeconds: String?

    @Option(
        name: .customLong("payments-provider-url"),
        help: "Base URL of the payment provider (PAYMENTS_PROVIDER_URL, default http://127.0.0.1:8090)."
    )
    var paymentsProviderURL: String?

    @Option(
        name: .customLong("payments-callback-url"),
        help: "URL the provider posts webhooks to (PAYMENTS_CALLBACK_URL, default: the pay request's host)."
    )
    var paymentsCallbackURL: String?

    @Option(
        name: .customLong("payment-webhook-secret"),
        help: "Shared secret of webhook signatures, at least 16 characters (PAYMENT_WEBHOOK_SECRET; never logged)."
    )
    var paymentWebhookSecret: String?

    @Option(
        name: .customLong("payment-webhook-tolerance-seconds"),
        help: "Seconds a webhook's timestamp may be from now, 1-86400 (PAYMENT_WEBHOOK_TOLERANCE_SECONDS, default 300)."
    )
    var paymentWebhookToleranceSeconds: String?

    @Option(
        name: .customLong("payments-timeout-ms"),
        help: "Milliseconds one call to the payment provider may take, 1-600000 (PAYMENTS_TIMEOUT_MS, default 2000)."
    )
    var paymentsTimeoutMs: String?

    /// Flags first, then the environment, then defaults; validated. On a bad value prints one line naming
    /// the key to standard error and exits with status 1.
    func load() throws -> ShopConfiguration {
        let flags: [(ShopConfiguration.Key, String?)] = [
            (.httpHost, self.httpHost), (.httpPort, self.httpPort), (.databaseURL, self.databaseURL),
            (.databaseMaxConnections, self.databaseMaxConnections),
            (.databaseMigrateOnStart, self.databaseMigrateOnStart),
            (.databaseStartupTimeoutMs, self.databaseStartupTimeoutMs),
            (.databaseRequestWaitMs, self.databaseRequestWaitMs),
            (.databaseIdleTransactionTimeoutMs, self.databaseIdleTransactionTimeoutMs), (.redisURL, self.redisURL),
            (.instanceID, self.instanceID), (.logLevel, self.logLevel), (.logFormat, self.logFormat),
            (.healthTimeoutMs, self.healthTimeoutMs),
            (.sessionIdleTimeoutSeconds, self.sessionIdleTimeoutSeconds),
            (.sessionAbsoluteLifetimeSeconds, self.sessionAbsoluteLifetimeSeconds),
            (.sessionTouchIntervalSeconds, self.sessionTouchIntervalSeconds),
            (.sessionCookieSecure, self.sessionCookieSecure), (.sessionKeyPrefix, self.sessionKeyPrefix),
            (.loginRateLimitWindowSeconds, self.loginRateLimitWindowSeconds),
            (.loginMaxAttemptsPerAccount, self.loginMaxAttemptsPerAccount),
            (.loginMaxAttemptsPerAddress, self.loginMaxAttemptsPerAddress), (.trustProxy, self.trustProxy),
            (.passwordHashCost, self.passwordHashCost), (.csrfTrustedOrigins, self.csrfTrustedOrigins),
            (.cacheEnabled, self.cacheEnabled),
            (.cacheKeyPrefix, self.cacheKeyPrefix),
            (.cacheTTLSeconds, self.cacheTTLSeconds),
            (.cacheListTTLSeconds, self.cacheListTTLSeconds),
            (.cachePointsTTLSeconds, self.cachePointsTTLSeconds),
            (.cacheNegativeTTLSeconds, self.cacheNegativeTTLSeconds),
            (.cacheStaleSeconds, self.cacheStaleSeconds),
            (.cacheTTLJitterPercent, self.cacheTTLJitterPercent),
            (.cacheRedisTimeoutMs, self.cacheRedisTimeoutMs),
            (.cacheStampedeWaitMs, self.cacheStampedeWaitMs),
            (.cacheBreakerFailures, self.cacheBreakerFailures),
            (.cacheBreakerCooldownMs, self.cacheBreakerCooldownMs),
            (.inventoryStrategy, self.inventoryStrategy),
            (.inventoryLockLeaseMs, self.inventoryLockLeaseMs),
            (.inventoryLockWaitMs, self.inventoryLockWaitMs),
            (.idempotencyRetentionSeconds, self.idempotencyRetentionSeconds),
            (.idempotencyClaimTimeoutSeconds, self.idempotencyClaimTimeoutSeconds),
            (.ordersKeyPrefix, self.ordersKeyPrefix),
            (.jobsEnabled, self.jobsEnabled),
            (.jobsTimeZone, self.jobsTimeZone),
            (.jobsCacheRebuildSchedule, self.jobsCacheRebuildSchedule),
            (.jobsCacheRebuildTop, self.jobsCacheRebuildTop),
            (.jobsCleanupSchedule, self.jobsCleanupSchedule),
            (.jobsDailySalesSchedule, self.jobsDailySalesSchedule),
            (.jobsHistoryRetentionHours, self.jobsHistoryRetentionHours),
            (.jobsShutdownGraceSeconds, self.jobsShutdownGraceSeconds),
            (.jobsReadCountsFlushMs, self.jobsReadCountsFlushMs),
            (.jobsKeyPrefix, self.jobsKeyPrefix),
            (.notificationsChannel, self.notificationsChannel),
            (.notificationsStreamBuffer, self.notificationsStreamBuffer),
            (.notificationsMaxStreams, self.notificationsMaxStreams),
            (.notificationsMaxStreamsPerUser, self.notificationsMaxStreamsPerUser),
            (.notificationsHeartbeatSeconds, self.notificationsHeartbeatSeconds),
            (.notificationsLowStockThreshold, self.notificationsLowStockThreshold),
            (.queueKeyPrefix, self.queueKeyPrefix),
            (.queueConsumersEnabled, self.queueConsumersEnabled),
            (.queueConcurrency, self.queueConcurrency),
            (.queueVisibilityTimeoutMs, self.queueVisibilityTimeoutMs),
            (.queueMaxAttempts, self.queueMaxAttempts),
            (.queueMaxDeliveries, self.queueMaxDeliveries),
            (.queueTransientBackoffMaxMs, self.queueTransientBackoffMaxMs),
            (.queueShutdownGraceSeconds, self.queueShutdownGraceSeconds),
            (.outboxRelayEnabled, self.outboxRelayEnabled),
            (.outboxPollIntervalMs, self.outboxPollIntervalMs),
            (.outboxResendAfterMs, self.outboxResendAfterMs),
            (.ordersPostProcessingDelayMs, self.ordersPostProcessingDelayMs),
            (.ratesProviderURL, self.ratesProviderURL),
            (.ratesCacheTTLSeconds, self.ratesCacheTTLSeconds),
            (.ratesAttemptTimeoutMs, self.ratesAttemptTimeoutMs),
            (.ratesMaxAttempts, self.ratesMaxAttempts),
            (.ratesBreakerMinCalls, self.ratesBreakerMinCalls),
            (.ratesBreakerOpenSeconds, self.ratesBreakerOpenSeconds),
            (.paymentsProviderURL, self.paymentsProviderURL),
            (.paymentsCallbackURL, self.paymentsCallbackURL),
            (.paymentWebhookSecret, self.paymentWebhookSecret),
            (.paymentWebhookToleranceSeconds, self.paymentWebhookToleranceSeconds),
            (.paymentsTimeoutMs, self.paymentsTimeoutMs),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case (let key, let value?) in flags {
            values[AbsoluteConfigKey(key.name.split(separator: ".").map(String.init))] = ConfigValue(
                .string(value),
                isSecret: key.isSecret
            )
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(
                secretsSpecifier: .specific([
                    ShopConfiguration.Key.databaseURL.variable, ShopConfiguration.Key.redisURL.variable,
                    ShopConfiguration.Key.paymentWebhookSecret.variable,
                ])
            ),
        ])
        do {
            return try ShopConfiguration(reader: reader)
        } catch let error as ConfigurationError {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Sends log lines at or above `level` to standard output in `format`, once per process. Every line carries the
/// current span's `trace_id` and `span_id` when there is one (OpenTelemetry's metadata provider).
func bootstrapLogging(level: Logger.Level, format: LogFormat = .text) {
    let provider = OTel.makeLoggingMetadataProvider()
    LoggingSystem.bootstrap(
        { label, provider in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardOutput(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }
        },
        metadataProvider: provider
    )
}
