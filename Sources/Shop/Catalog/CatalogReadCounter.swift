public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Counts product reads so the cache-rebuild job knows which products are read most.
///
/// A read costs one increment in memory; each instance adds its counts to a sorted set per UTC day in Redis
/// every ``flushInterval`` (one pipeline), and once more on shutdown. The day's sets share one hash tag, so
/// ``mostRead(limit:now:)`` can union today and yesterday in one command on a cluster too. Counts are
/// statistics: a crash loses at most one interval of them.
public final class CatalogReadCounter: Service, Sendable {
    /// At most this many distinct products are counted between flushes; reads of others wait for the next.
    static let maximumDistinctProducts = 10_000
    let redis: RedisClient
    let keyPrefix: String
    let flushInterval: Duration
    let logger: Logger
    private let counts = Mutex<[UUID: Int]>([:])

    /// Creates the counter.
    /// - Parameters:
    ///   - redis: The Redis client.
    ///   - keyPrefix: Prefix of the daily keys (`<prefix>reads:{reads}:<yyyy-mm-dd>`).
    ///   - flushInterval: How often counts go to Redis.
    ///   - logger: Where flush failures are logged.
    public init(redis: RedisClient, keyPrefix: String, flushInterval: Duration, logger: Logger) {
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.flushInterval = flushInterval
        self.logger = logger
    }

    /// Counts one read of the product.
    /// - Parameter id: The product.
    public func record(_ id: UUID) {
        self.counts.withLock { counts in
            if counts.count < Self.maximumDistinctProducts || counts[id] != nil {
                counts[id, default: 0] += 1
            }
        }
    }

    /// Flushes every interval until graceful shutdown, then once more.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.flushInterval) }
            } catch {
                break
            }
            await self.flush()
        }
        await self.flush()
    }

    /// Adds the counts gathered so far to today's set. Failed flushes put the counts back.
    public func flush() async {
        let pending = self.counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
        guard !pending.isEmpty else { return }
        let key = self.key(for: Date())
        var commands = pending.map { id, count in
            RedisCommand("ZINCRBY", key: key, String(count), id.uuidString.lowercased())
        }
        commands.append(RedisCommand("EXPIRE", key: key, String(3 * 86_400)))
        do {
            for result in try await self.redis.pipeline(commands) { _ = try result.get() }
        } catch {
            self.logger.warning("could not flush product read counts", metadata: ["error": "\(error)"])
            self.counts.withLock { counts in
                for (id, count) in pending where counts.count < Self.maximumDistinctProducts || counts[id] != nil {
                    counts[id, default: 0] += count
                }
            }
        }
    }

    /// The most-read products of today and yesterday (UTC), most read first.
    /// - Parameters:
    ///   - limit: How many.
    ///   - now: The current time.
    public func mostRead(limit: Int, now: Date = Date()) async throws -> [UUID] {
        guard limit > 0 else { return [] }
        var union = RedisCommand("ZUNION")
        union.append("2")
        union.appendKey(self.key(for: now))
        union.appendKey(self.key(for: now.addingTimeInterval(-86_400)))
        union.append("WITHSCORES")
        let reply = try await self.redis.send(union).decode(as: [RESPValue].self)
        // RESP3 answers WITHSCORES as pairs; RESP2 flat. Ascending by score either way.
        var members: [(UUID, Double)] = []
        var index = 0
        while index < reply.count {
            if case .array(let pair) = reply[index], pair.count == 2 {
                if let id = UUID(uuidString: try pair[0].decode(as: String.self)) {
                    members.append((id, try pair[1].decode(as: Double.self)))
                }
                index += 1
            } else if index + 1 < reply.count {
                if let id = UUID(uuidString: try reply[index].decode(as: String.self)) {
                    members.append((id, try reply[index + 1].decode(as: Double.self)))
                }
                index += 2
            } else {
                break
            }
        }
        return members.sorted { ($0.1, $1.0.uuidString) > ($1.1, $0.0.uuidString) }.prefix(limit).map(\.0)
    }

    func key(for date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let day = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        return "\(self.keyPrefix)reads:{reads}:\(day)"
    }
}
