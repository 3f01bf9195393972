import Logging
import PostgresNIO
import RedisCache

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A user's loyalty points, as `GET /api/v1/me` shows them: cache-aside in Redis (namespace `points`, when the
/// cache is enabled) over `users.points`. The order post-processing evicts the entry after it commits, and the
/// cache's fill leases keep a read that loaded the old balance from storing it after that eviction.
public struct PointsReader: Sendable {
    let read: @Sendable (UUID) async throws -> Int64
    let changed: @Sendable (UUID) async -> Void

    /// The points of `user` (0 for an unknown user).
    public func points(of user: UUID) async throws -> Int64 {
        try await self.read(user)
    }

    /// Forgets the cached balance of `user` (call after a committed change).
    public func pointsChanged(_ user: UUID) async {
        await self.changed(user)
    }

    /// Reads PostgreSQL, through the cache when there is one.
    static func make(postgres: PostgresClient, cache: RedisCacheManager?, logger: Logger) -> PointsReader {
        let load: @Sendable (UUID) async throws -> Int64 = { user in
            let rows = try await postgres.query("SELECT points FROM users WHERE id = \(user)", logger: logger)
            for try await points in rows.decode(Int64.self) { return points }
            return 0
        }
        var options = RedisCacheOptions(ttl: .seconds(300))
        options.negativeTTL = nil
        guard let manager = cache,
            let points = try? manager.cache(namespace: "points", of: Int64.self, options: options)
        else {
            return PointsReader(read: load, changed: { _ in })
        }
        return PointsReader(
            read: { user in
                let value: Int64 = try await points.get(user.uuidString.lowercased()) { try await load(user) }
                return value
            },
            changed: { user in _ = await points.evict(user.uuidString.lowercased()) }
        )
    }
}
