public import Logging
public import RedisClient
public import ServiceLifecycle

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The fleet's instance registry: every `shop serve` writes a heartbeat (its ``InstanceRecord`` and the time) every
/// ``InstanceLiveness/interval``, and any instance lists them all (`GET /api/v1/admin/instances`).
///
/// Two keys under one hash tag (one Redis Cluster slot): `<prefix>{instances}:info`, a hash of each instance's record
/// as JSON, and `<prefix>{instances}:seen`, the same ids scored by their last heartbeat. A heartbeat is one script
/// that writes both and drops the instances not seen for ``InstanceLiveness/forgetAfter``; both keys expire a day
/// after the last heartbeat of any instance. A graceful shutdown removes the instance's entry; one killed stays
/// listed as `missing` until it is forgotten. Liveness is judged with the reader's clock against the writer's
/// (instances should run NTP; a skew of less than an interval does not matter).
public final class InstanceRegistry: Service, Sendable {
    /// One entry of the listing.
    public struct Entry: Codable, Sendable, Equatable {
        public var record: InstanceRecord
        /// The last heartbeat, milliseconds since the Unix epoch.
        public var lastHeartbeatMilliseconds: Int64
        public var status: InstanceStatus
    }

    private struct Stored: Codable {
        var record: InstanceRecord
        var lastHeartbeatMilliseconds: Int64
    }

    private let redis: RedisClient
    private let infoKey: String
    private let seenKey: String
    private let record: @Sendable () -> InstanceRecord
    private let liveness: InstanceLiveness
    private let logger: Logger
    private let now: @Sendable () -> Int64

    /// Creates the registry.
    /// - Parameters:
    ///   - redis: The client.
    ///   - keyPrefix: The prefix of its two keys (the shop uses `JOBS_KEY_PREFIX`, with the scheduler's fleet state).
    ///   - liveness: The heartbeat interval and how a reader judges it.
    ///   - logger: Where failed heartbeats are reported.
    ///   - now: The clock, milliseconds since the Unix epoch (injectable for tests).
    ///   - record: This instance's record, read at each heartbeat (its HTTP port is known only once it is bound).
    public init(
        redis: RedisClient,
        keyPrefix: String,
        liveness: InstanceLiveness,
        logger: Logger,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
        record: @escaping @Sendable () -> InstanceRecord
    ) {
        self.redis = redis
        self.infoKey = keyPrefix + "{instances}:info"
        self.seenKey = keyPrefix + "{instances}:seen"
        self.record = record
        self.liveness = liveness
        self.logger = logger
        self.now = now
    }

    /// Writes a heartbeat at once and then every interval until graceful shutdown, then removes this instance's
    /// entry. A failed heartbeat is logged and tried again at the next interval (the entry turns `missing` for
    /// readers only after three).
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await self.heartbeat()
            } catch {
                self.logger.warning("instance heartbeat failed", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.liveness.interval) }
            } catch {
                break
            }
        }
        do {
            try await self.leave()
        } catch {
            self.logger.warning("could not remove this instance from the registry", metadata: ["error": "\(error)"])
        }
    }

    /// Writes this instance's record and the time, and forgets instances not seen for ``InstanceLiveness/forgetAfter``.
    public func heartbeat() async throws {
        let now = self.now()
        let stored = Stored(record: self.record(), lastHeartbeatMilliseconds: now)
        let json = String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
        _ = try await self.redis.eval(
            Self.heartbeatScript,
            keys: [self.infoKey, self.seenKey],
            arguments: [
                stored.record.id, json, Int(now), Int(now - self.liveness.forgetAfter.milliseconds),
                Int(Self.keyLifetime.milliseconds),
            ]
        )
    }

    /// Removes this instance's entry, waiting at most a second for Redis (a shutdown is not held up by a Redis that
    /// does not answer; the entry then turns `missing` and is forgotten).
    public func leave() async throws {
        let id = self.record().id
        for result in try await self.redis.pipeline(
            [RedisCommand("HDEL", key: self.infoKey, id), RedisCommand("ZREM", key: self.seenKey, id)],
            timeout: .seconds(1)
        ) {
            _ = try result.get()
        }
    }

    /// Every instance not yet forgotten, live ones first, then by id.
    public func list() async throws -> [Entry] {
        let now = self.now()
        var entries: [Entry] = []
        for (_, value) in try await self.redis.hgetall(self.infoKey) {
            // An entry that is not ours to read (another version's format) is left out rather than failing the list.
            guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(value.utf8)),
                let status = self.liveness.status(lastSeen: stored.lastHeartbeatMilliseconds, now: now)
            else { continue }
            entries.append(
                Entry(
                    record: stored.record,
                    lastHeartbeatMilliseconds: stored.lastHeartbeatMilliseconds,
                    status: status
                )
            )
        }
        return entries.sorted {
            ($0.status == .live ? 0 : 1, $0.record.id) < ($1.status == .live ? 0 : 1, $1.record.id)
        }
    }

    /// How long the keys outlive the last heartbeat of any instance.
    static let keyLifetime = Duration.seconds(86_400)

    /// KEYS[1] info, KEYS[2] seen; ARGV: id, record JSON, now ms, forget-before ms, key lifetime ms. Returns how many
    /// instances it forgot.
    static let heartbeatScript = RedisScript(
        """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
        for _, id in ipairs(stale) do redis.call('HDEL', KEYS[1], id) end
        if #stale > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        redis.call('PEXPIRE', KEYS[2], ARGV[5])
        return #stale
        """
    )
}
