import Logging
import PostgresNIO
import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A user's loyalty points, as `GET /api/v1/me` shows them: `users.points` in PostgreSQL, with a copy in Redis
/// (`<prefix>points:{<user>}`, the value `<version>:<points>`) so the hottest authenticated route costs one `GET`
/// and no database query.
///
/// The copy converges and never moves backwards: every write goes through one script that stores a balance only
/// if its version is newer than the copy's. The order post-processing stores the balance it committed — also when a
/// redelivered message finds its effects already committed, and again (the message is retried) when the write
/// failed — so a crash or a failed write is repaired rather than left to the TTL. A reader that missed fills the
/// copy through the same script, so a balance it loaded before a newer commit cannot overwrite the newer one.
/// What the TTL still bounds: Redis itself losing writes it acknowledged (a restore from an older snapshot).
/// Redis unreachable: the balance is read from PostgreSQL.
public struct PointsReader: Sendable {
    let redis: RedisClient?
    let postgres: Database
    let keyPrefix: String
    let ttl: Duration
    let logger: Logger

    /// KEYS: the copy. ARGV: version, points, ttl ms. Stores `version:points` unless the copy's version is the same
    /// or newer. Returns 1 when stored.
    static let store = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current then
          local version = tonumber(string.match(current, '^(%d+):'))
          if version and version >= tonumber(ARGV[1]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
        return 1
        """
    )

    /// The points of `user` (0 for an unknown user).
    public func points(of user: UUID) async throws -> Int64 {
        guard let redis = self.redis else { return try await self.load(user).points }
        let key = self.key(user)
        if let cached = try? await redis.send(RedisCommand("GET", key: key)).decode(as: String?.self),
            let points = Self.points(inCopy: cached)
        {
            return points
        }
        let balance = try await self.load(user)
        _ = try? await self.write(balance, of: user, on: redis)
        return balance.points
    }

    /// Stores a committed balance of `user` in the copy (a no-op when the copy is as new or newer).
    /// - Throws: The Redis error when the copy could not be written; the caller retries (a consumer's message is
    ///   delivered again), so the copy is repaired rather than left stale until its TTL.
    public func store(_ balance: PointsBalance, of user: UUID) async throws {
        guard let redis = self.redis else { return }
        try await self.write(balance, of: user, on: redis)
    }

    private func write(_ balance: PointsBalance, of user: UUID, on redis: RedisClient) async throws {
        _ = try await redis.eval(
            Self.store,
            keys: [self.key(user)],
            arguments: [balance.version, balance.points, self.ttl.milliseconds]
        )
    }

    /// The points in a copy's value `<version>:<points>`; nil for anything else (an older format is reloaded).
    static func points(inCopy value: String?) -> Int64? {
        guard let value, let colon = value.firstIndex(of: ":"), Int64(value[..<colon]) != nil else { return nil }
        return Int64(value[value.index(after: colon)...])
    }

    func key(_ user: UUID) -> String { "\(self.keyPrefix)points:{\(user.uuidString.lowercased())}" }

    private func load(_ user: UUID) async throws -> PointsBalance {
        try await self.postgres.withConnection { connection in
            try await PointsLedger.balance(of: user, on: connection, logger: self.logger)
        }
    }

    /// The reader of a service: with a Redis copy when the cache is enabled.
    static func make(
        postgres: Database,
        redis: RedisClient?,
        keyPrefix: String,
        ttl: Duration,
        logger: Logger
    ) -> PointsReader {
        PointsReader(redis: redis, postgres: postgres, keyPrefix: keyPrefix, ttl: ttl, logger: logger)
    }
}
