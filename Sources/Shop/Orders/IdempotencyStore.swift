import Crypto
public import Logging
public import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// `Idempotency-Key` records in Redis: the fast path that answers duplicates without running them again.
///
/// A request first claims its key with `SET NX` (one round trip). The claim holds the request's hash and a
/// random owner token, and expires after `claimTimeout` if its instance dies mid-request. When the request
/// finishes, its owner replaces the claim with the outcome (status, body, content type), kept for
/// `retention`; a request that fails unexpectedly deletes its claim so the client may retry. Both are
/// compare-and-set scripts keyed by the owner token, so a slow instance whose claim expired cannot
/// overwrite a newer one.
///
/// PostgreSQL backs this up: the order and its idempotency record are written in one transaction under a
/// primary key `(user_id, key)`, so a key can never create two orders even if Redis lost its records.
public struct IdempotencyStore: Sendable {
    /// What a stored outcome replays.
    public struct Outcome: Codable, Sendable, Equatable {
        /// The response status.
        public var status: Int
        /// The response body, exactly as first sent.
        public var body: String
        /// Its `Content-Type`.
        public var contentType: String
    }

    private struct Record: Codable {
        /// `running` or `done`.
        var state: String
        var requestHash: String
        var owner: String?
        var outcome: Outcome?
    }

    /// What to do with a request.
    public enum Claim: Sendable, Equatable {
        /// First use of the key (or Redis is unavailable and the database backs the request up): run it.
        case run(owner: String?)
        /// The key was used before with the same request: send this outcome again.
        case replay(Outcome)
        /// The same key is being used right now by a request that has not finished.
        case inProgress
        /// The key was used with a different request.
        case mismatch
    }

    let redis: RedisClient
    let keyPrefix: String
    let retention: Duration
    let claimTimeout: Duration
    let logger: Logger

    /// Creates the store.
    /// - Parameters:
    ///   - redis: Redis.
    ///   - keyPrefix: Prefix of the record keys.
    ///   - retention: How long outcomes are kept (24 h by default).
    ///   - claimTimeout: How long a claim survives an instance that died mid-request.
    ///   - logger: For warnings when Redis is unavailable.
    public init(redis: RedisClient, keyPrefix: String, retention: Duration, claimTimeout: Duration, logger: Logger) {
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.retention = retention
        self.claimTimeout = claimTimeout
        self.logger = logger
    }

    /// KEYS: record. ARGV: owner, new record, ttl ms. Replaces the claim only if `owner` still holds it.
    static let settle = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current and cjson.decode(current).owner == ARGV[1] then
          redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
          return 1
        end
        return 0
        """
    )

    /// KEYS: record. ARGV: owner. Deletes the claim only if `owner` still holds it.
    static let release = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current and cjson.decode(current).owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
    )

    func key(userID: UUID, idempotencyKey: String) -> String {
        // The client's key is hashed: bounded length, and nothing of it leaks into key listings.
        let digest = Array(SHA256.hash(data: Array(idempotencyKey.utf8))).hex
        return "\(self.keyPrefix){\(userID.uuidString.lowercased())}:\(digest)"
    }

    /// Claims the key for a request with `requestHash`, or says how to answer it instead.
    public func claim(userID: UUID, idempotencyKey: String, requestHash: String) async -> Claim {
        let owner = UUID().uuidString
        let key = self.key(userID: userID, idempotencyKey: idempotencyKey)
        do {
            let record = try Self.encode(Record(state: "running", requestHash: requestHash, owner: owner, outcome: nil))
            var command = RedisCommand("SET")
            command.appendKey(key)
            command.append(record)
            command.append("NX")
            command.append("GET")
            command.append("PX")
            command.append(self.claimTimeout.milliseconds)
            guard let previous = try await self.redis.send(command).decode(as: String?.self) else {
                return .run(owner: owner)
            }
            let existing = try JSONDecoder().decode(Record.self, from: Data(previous.utf8))
            guard existing.requestHash == requestHash else { return .mismatch }
            if existing.state == "done", let outcome = existing.outcome { return .replay(outcome) }
            return .inProgress
        } catch {
            // Fail open: the database's primary key still prevents a second order for the key.
            self.logger.warning(
                "idempotency records unavailable; relying on the database",
                metadata: ["error": "\(error)"]
            )
            return .run(owner: nil)
        }
    }

    /// Stores the outcome of the request that holds the claim, for `retention`.
    public func settle(userID: UUID, idempotencyKey: String, owner: String?, requestHash: String, outcome: Outcome)
        async
    {
        guard let owner else { return }
        do {
            let record = try Self.encode(
                Record(state: "done", requestHash: requestHash, owner: owner, outcome: outcome)
            )
            _ = try await self.redis.eval(
                Self.settle,
                keys: [self.key(userID: userID, idempotencyKey: idempotencyKey)],
                arguments: [owner, record, self.retention.milliseconds]
            )
        } catch {
            self.logger.warning("could not store an idempotent outcome", metadata: ["error": "\(error)"])
        }
    }

    /// Gives up the claim (the request failed unexpectedly), so the client may retry with the same key.
    public func release(userID: UUID, idempotencyKey: String, owner: String?) async {
        guard let owner else { return }
        _ = try? await self.redis.eval(
            Self.release,
            keys: [self.key(userID: userID, idempotencyKey: idempotencyKey)],
            arguments: [owner]
        )
    }

    private static func encode(_ record: Record) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }
}
