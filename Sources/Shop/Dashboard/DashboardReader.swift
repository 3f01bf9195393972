import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// One minute of the fleet's figures, added up over every instance that wrote them.
public struct DashboardMinute: Codable, Sendable, Equatable {
    /// When the minute began.
    public var start: Date
    /// How many instances wrote figures for it.
    public var instances: Int
    public var requests: Int
    /// Answers with a status of 500 or more.
    public var serverErrors: Int
    /// The median and 99th percentile of the HTTP latency, in milliseconds (nil without requests).
    public var p50Milliseconds: Double?
    public var p99Milliseconds: Double?
    public var ordersPlaced: Int
    /// Queue handler runs that succeeded, failed (to be retried or dead-lettered), and messages dead-lettered.
    public var queueHandled: Int
    public var queueFailed: Int
    public var deadLettered: Int
    /// The catalog cache, every namespace.
    public var cacheHits: Int
    public var cacheMisses: Int
    /// Hits ÷ reads (nil without reads).
    public var cacheHitRatio: Double?
    /// The catalog cache per namespace, by name.
    public var cacheNamespaces: [CacheNamespaceMinute]
    /// How many times an instance's cache breaker opened.
    public var cacheBreakerOpenings: Int
    /// Instance-seconds the breakers were open (sampled at each instance's writes).
    public var cacheBreakerOpenSeconds: Int

    private enum CodingKeys: String, CodingKey {
        case start, instances, requests, serverErrors, p50Milliseconds, p99Milliseconds, ordersPlaced, queueHandled
        case queueFailed, deadLettered, cacheHits, cacheMisses, cacheHitRatio, cacheNamespaces, cacheBreakerOpenings
        case cacheBreakerOpenSeconds
    }

    /// Every field, figures that are not known as `null` (not left out).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.start, forKey: .start)
        try container.encode(self.instances, forKey: .instances)
        try container.encode(self.requests, forKey: .requests)
        try container.encode(self.serverErrors, forKey: .serverErrors)
        try container.encode(self.p50Milliseconds, forKey: .p50Milliseconds)
        try container.encode(self.p99Milliseconds, forKey: .p99Milliseconds)
        try container.encode(self.ordersPlaced, forKey: .ordersPlaced)
        try container.encode(self.queueHandled, forKey: .queueHandled)
        try container.encode(self.queueFailed, forKey: .queueFailed)
        try container.encode(self.deadLettered, forKey: .deadLettered)
        try container.encode(self.cacheHits, forKey: .cacheHits)
        try container.encode(self.cacheMisses, forKey: .cacheMisses)
        try container.encode(self.cacheHitRatio, forKey: .cacheHitRatio)
        try container.encode(self.cacheNamespaces, forKey: .cacheNamespaces)
        try container.encode(self.cacheBreakerOpenings, forKey: .cacheBreakerOpenings)
        try container.encode(self.cacheBreakerOpenSeconds, forKey: .cacheBreakerOpenSeconds)
    }
}

/// One cache namespace's minute, added up over the fleet.
public struct CacheNamespaceMinute: Codable, Sendable, Equatable {
    public var namespace: String
    public var hits: Int
    public var misses: Int
    /// Hits ÷ reads (nil without reads).
    public var hitRatio: Double?
    /// Reads that waited for another caller's fill.
    public var waits: Int
    /// Redis errors.
    public var errors: Int
    /// Reads that went to the source without Redis (breaker open).
    public var bypassed: Int

    private enum CodingKeys: String, CodingKey {
        case namespace, hits, misses, hitRatio, waits, errors, bypassed
    }

    /// Every field, an unknown ratio as `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.namespace, forKey: .namespace)
        try container.encode(self.hits, forKey: .hits)
        try container.encode(self.misses, forKey: .misses)
        try container.encode(self.hitRatio, forKey: .hitRatio)
        try container.encode(self.waits, forKey: .waits)
        try container.encode(self.errors, forKey: .errors)
        try container.encode(self.bypassed, forKey: .bypassed)
    }
}

/// The answer of `GET /api/v1/admin/dashboard`: the last minutes, oldest first, the current (partial) one last.
public struct DashboardSnapshot: Codable, Sendable, Equatable {
    public var minutes: [DashboardMinute]
    /// How often each instance writes its figures, in milliseconds: the current minute is at most this far behind.
    public var writeIntervalMilliseconds: Int
}

/// Reads the fleet's figures from Redis (what every instance's ``DashboardRecorder`` wrote).
struct DashboardReader: Sendable {
    let redis: RedisClient
    let keys: DashboardKeys
    let writeInterval: Duration

    /// The last `count` minutes up to and including `currentMinute`: one pipeline of `HGETALL`s.
    func snapshot(minutes count: Int, currentMinute: Int64) async throws -> DashboardSnapshot {
        let minutes = Array((currentMinute - Int64(count) + 1)...currentMinute)
        let metrics = DashboardMetric.allCases
        let commands = minutes.flatMap { minute in
            metrics.map { RedisCommand("HGETALL", key: self.keys.key(minute: minute, metric: $0)) }
        }
        let replies = try await self.redis.pipeline(commands)
        var points: [DashboardMinute] = []
        for (index, minute) in minutes.enumerated() {
            var fields: [DashboardMetric: [String: Int]] = [:]
            var instances = Set<Substring>()
            for (offset, metric) in metrics.enumerated() {
                let hash = try replies[index * metrics.count + offset].get().decode(as: [String: String].self)
                for (name, value) in hash {
                    guard let bar = name.lastIndex(of: "|"), let total = Int(value) else { continue }
                    instances.insert(name[..<bar])
                    fields[metric, default: [:]][String(name[name.index(after: bar)...]), default: 0] += total
                }
            }
            points.append(Self.point(minute: minute, fields: fields, instances: instances.count))
        }
        return DashboardSnapshot(
            minutes: points,
            writeIntervalMilliseconds: Int(self.writeInterval / .milliseconds(1))
        )
    }

    static func point(minute: Int64, fields: [DashboardMetric: [String: Int]], instances: Int) -> DashboardMinute {
        let http = fields[.http] ?? [:]
        let queue = fields[.queue] ?? [:]
        let cache = fields[.cache] ?? [:]
        let latency = (0..<LatencyBuckets.count).map { http["b\($0)"] ?? 0 }
        func sum(_ prefix: String) -> Int {
            queue.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +)
        }
        var namespaces: [String: CacheCounts] = [:]
        for (field, total) in cache {
            guard let colon = field.firstIndex(of: ":") else { continue }
            let namespace = String(field[field.index(after: colon)...])
            switch field[..<colon] {
            case "hits": namespaces[namespace, default: CacheCounts()].hits += total
            case "misses": namespaces[namespace, default: CacheCounts()].misses += total
            case "waits": namespaces[namespace, default: CacheCounts()].waits += total
            case "errors": namespaces[namespace, default: CacheCounts()].errors += total
            case "bypassed": namespaces[namespace, default: CacheCounts()].bypassed += total
            default: continue
            }
        }
        // `hits` and `misses` without a namespace: what instances of an earlier version write (a rolling deploy).
        let hits = namespaces.values.reduce(cache["hits"] ?? 0) { $0 + $1.hits }
        let misses = namespaces.values.reduce(cache["misses"] ?? 0) { $0 + $1.misses }
        return DashboardMinute(
            start: Date(timeIntervalSince1970: TimeInterval(minute * 60)),
            instances: instances,
            requests: http["requests"] ?? 0,
            serverErrors: http["errors"] ?? 0,
            p50Milliseconds: LatencyBuckets.percentile(0.5, of: latency),
            p99Milliseconds: LatencyBuckets.percentile(0.99, of: latency),
            ordersPlaced: fields[.orders]?["placed"] ?? 0,
            queueHandled: sum("handled:"),
            queueFailed: sum("failed:"),
            deadLettered: sum("dead:"),
            cacheHits: hits,
            cacheMisses: misses,
            cacheHitRatio: hits + misses == 0 ? nil : Double(hits) / Double(hits + misses),
            cacheNamespaces: namespaces.sorted { $0.key < $1.key }.map { namespace, counts in
                CacheNamespaceMinute(
                    namespace: namespace,
                    hits: counts.hits,
                    misses: counts.misses,
                    hitRatio: counts.hits + counts.misses == 0
                        ? nil : Double(counts.hits) / Double(counts.hits + counts.misses),
                    waits: counts.waits,
                    errors: counts.errors,
                    bypassed: counts.bypassed
                )
            },
            cacheBreakerOpenings: cache["openings"] ?? 0,
            cacheBreakerOpenSeconds: ((cache["open_ms"] ?? 0) + 500) / 1000
        )
    }
}
