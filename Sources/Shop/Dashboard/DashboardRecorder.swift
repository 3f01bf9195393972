public import Logging
public import RedisClient
public import ServiceLifecycle

/// Writes this instance's ``DashboardSeries`` to Redis every ``interval``, so that any instance can chart the fleet's
/// last hours (``DashboardReader``) with nothing but Redis: no metrics server needed.
///
/// Keys: `<prefix>dash:{<minute>}:<figure>` (``DashboardKeys``), one hash per figure per minute, each instance writing
/// its own totals in fields `<instance>|<field>` with `HSET` — idempotent, so a write retried after a timeout never
/// counts twice. Every written key expires ``retentionMinutes`` after its last write. A minute's keys share a hash
/// tag, so one write goes to one Redis Cluster node. Nothing is sent while nothing happened (an idle instance costs a
/// timer tick per interval); a failed write is logged and its totals written with the next one (minutes past the
/// retention are dropped, so an outage cannot grow memory). A graceful shutdown writes what is left.
public final class DashboardRecorder: Service, Sendable {
    let redis: RedisClient
    let keys: DashboardKeys
    let instanceID: String
    let series: DashboardSeries
    /// How often the totals are written.
    public let interval: Duration
    /// How many minutes the figures are kept.
    public let retentionMinutes: Int64
    let cacheTotals: (@Sendable () -> CacheSample)?
    let logger: Logger

    /// Creates the recorder.
    /// - Parameters:
    ///   - redis: The client.
    ///   - keyPrefix: The prefix of its keys.
    ///   - instanceID: This instance's id (its fields' prefix).
    ///   - series: What this instance counted.
    ///   - interval: How often to write.
    ///   - retentionMinutes: How long the figures are kept.
    ///   - cacheTotals: The catalog cache's counters since start, sampled at each write (nil: no cache).
    ///   - logger: Where failed writes are reported.
    public init(
        redis: RedisClient,
        keyPrefix: String,
        instanceID: String,
        series: DashboardSeries,
        interval: Duration = .seconds(10),
        retentionMinutes: Int64 = 180,
        cacheTotals: (@Sendable () -> CacheSample)?,
        logger: Logger
    ) {
        self.redis = redis
        self.keys = DashboardKeys(prefix: keyPrefix)
        self.instanceID = instanceID
        self.series = series
        self.interval = interval
        self.retentionMinutes = retentionMinutes
        self.cacheTotals = cacheTotals
        self.logger = logger
    }

    /// Writes every interval until graceful shutdown, then once more.
    public func run() async throws {
        var cache = self.cacheTotals?()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            } catch {
                break
            }
            self.sampleCache(&cache)
            await self.write()
        }
        self.sampleCache(&cache)
        await self.write()
    }

    /// Adds what the cache did since the last sample to the current minute. The breaker's open time is sampled:
    /// an interval counts as open when the breaker is open at its end.
    func sampleCache(_ last: inout CacheSample?) {
        guard let previous = last, let now = self.cacheTotals?() else { return }
        for (namespace, counts) in now.namespaces {
            self.series.cacheActivity(
                namespace: namespace,
                counts.since(previous.namespaces[namespace] ?? CacheCounts())
            )
        }
        self.series.cacheBreaker(
            openings: max(0, now.breakerOpenings - previous.breakerOpenings),
            openMilliseconds: now.breakerOpen ? Int(self.interval / .milliseconds(1)) : 0
        )
        last = now
    }

    /// Writes the totals that changed since the last write; returns whether Redis took them (or there were none).
    @discardableResult
    func write() async -> Bool {
        let pending = self.series.unwritten
        guard !pending.isEmpty else { return true }
        var fields: [String: [String]] = [:]
        for (key, total) in pending {
            fields[self.keys.key(minute: key.minute, metric: key.metric), default: []] += [
                "\(self.instanceID)|\(key.field)", String(total),
            ]
        }
        let lifetime = (self.retentionMinutes + 1) * 60_000
        var commands: [RedisCommand] = []
        for (key, values) in fields.sorted(by: { $0.key < $1.key }) {
            var set = RedisCommand("HSET", key: key)
            for value in values { set.append(value) }
            commands.append(set)
            commands.append(RedisCommand("PEXPIRE", key: key, Int(lifetime)))
        }
        do {
            let replies = try await self.redis.pipeline(commands)
            for reply in replies { _ = try reply.get() }
            self.series.wrote(pending, retention: self.retentionMinutes)
            return true
        } catch {
            self.series.expire(retention: self.retentionMinutes)
            self.logger.warning("dashboard figures not written; trying again", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// The dashboard's keys: `<prefix>dash:{<minute>}:<figure>`.
struct DashboardKeys: Sendable {
    let prefix: String

    func key(minute: Int64, metric: DashboardMetric) -> String {
        "\(self.prefix)dash:{\(minute)}:\(metric.rawValue)"
    }
}
