import Logging
import PostgresNIO
import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A user's loyalty points, as `GET /api/v1/me` shows them: `users.points` in PostgreSQL, with a copy in Redis
/// (`<prefix>points:{<user>}`) so the hottest authenticated route costs one `GET` and no database query.
///
/// Written through, never resurrected stale: the order post-processing, after its commit and still under the
/// user's lock, `SET`s the new balance; a reader that missed fills the copy only with `SET NX`, so a balance it
/// loaded before that commit can never overwrite the newer one. Redis unreachable: the balance is read from
/// PostgreSQL.
public struct PointsReader: Sendable {
    let redis: RedisClient?
    let postgres: PostgresClient
    let keyPrefix: String
    let ttl: Duration
    let logger: Logger

    /// The points of `user` (0 for an unknown user).
    public func points(of user: UUID) async throws -> Int64 {
        guard let redis = self.redis else { return try await self.load(user) }
        let key = self.key(user)
        if let cached = try? await redis.send(RedisCommand("GET", key)).decode(as: String?.self),
            let value = Int64(cached)
        {
            return value
        }
        let points = try await self.load(user)
        _ = try? await redis.send(
            RedisCommand("SET", key, String(points), "NX", "PX", self.ttl.milliseconds)
        )
        return points
    }

    /// Stores the balance of `user` after a committed change (call it in commit order, as under the user's lock).
    public func pointsChanged(_ user: UUID, balance: Int64) async {
        guard let redis = self.redis else { return }
        do {
            _ = try await redis.send(
                RedisCommand("SET", self.key(user), String(balance), "PX", self.ttl.milliseconds)
            )
        } catch {
            // The copy may lag until its TTL; drop it instead, if Redis answers that.
            _ = try? await redis.send(RedisCommand("DEL", self.key(user)))
            self.logger.warning("could not store a points balance", metadata: ["error": "\(error)"])
        }
    }

    private func key(_ user: UUID) -> String { "\(self.keyPrefix)points:{\(user.uuidString.lowercased())}" }

    private func load(_ user: UUID) async throws -> Int64 {
        let rows = try await self.postgres.query("SELECT points FROM users WHERE id = \(user)", logger: self.logger)
        for try await points in rows.decode(Int64.self) { return points }
        return 0
    }

    /// The reader of a service: with a Redis copy when the cache is enabled.
    static func make(
        postgres: PostgresClient,
        redis: RedisClient?,
        keyPrefix: String,
        logger: Logger
    ) -> PointsReader {
        PointsReader(redis: redis, postgres: postgres, keyPrefix: keyPrefix, ttl: .seconds(3600), logger: logger)
    }
}
