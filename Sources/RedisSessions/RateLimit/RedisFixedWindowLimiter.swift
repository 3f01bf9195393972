public import RedisClient

/// Counts attempts per bucket in fixed windows kept in Redis, shared by every instance (for example sign-in
/// attempts per account and per client address).
///
/// Each bucket is one key, `<prefix>ratelimit:{<bucket>}`, counted by a Lua script that increments it and
/// starts its window on the first attempt (`INCR` + `PEXPIRE`, atomically), so a window can never lose its
/// expiry. Several buckets are counted in one pipeline: one round trip, one Redis Cluster slot per bucket.
///
/// ```swift
/// let limiter = RedisFixedWindowLimiter(redis: redis, keyPrefix: "app:", window: .seconds(900))
/// let (account, address) = try await limiter.hit("login:account:\(hash)", "login:address:\(ip)")
/// if account.count > 10 { /* answer 429 with Retry-After: account.retryAfterSeconds */ }
/// ```
public struct RedisFixedWindowLimiter: Sendable {
    /// The state of one bucket after an attempt was counted.
    public struct Count: Sendable, Equatable {
        /// Attempts in the current window, this one included.
        public var count: Int
        /// Milliseconds until the window ends and the count starts again from zero.
        public var resetsInMilliseconds: Int

        /// Creates a count.
        /// - Parameters:
        ///   - count: Attempts in the window.
        ///   - resetsInMilliseconds: Milliseconds until the window ends.
        public init(count: Int, resetsInMilliseconds: Int) {
            self.count = count
            self.resetsInMilliseconds = resetsInMilliseconds
        }

        /// Whole seconds until the window ends, rounded up, at least 1: the value for `Retry-After`.
        public var retryAfterSeconds: Int {
            max(1, (self.resetsInMilliseconds + 999) / 1000)
        }
    }

    /// The Redis client.
    public let redis: RedisClient
    /// Put in front of every key.
    public let keyPrefix: String
    /// The window length in milliseconds.
    public let windowMilliseconds: Int64

    /// Creates a limiter.
    /// - Parameters:
    ///   - redis: The Redis client.
    ///   - keyPrefix: Put in front of every key (must not contain `{` or `}`).
    ///   - window: How long a window lasts, from the first attempt in it (at least 1 ms).
    public init(redis: RedisClient, keyPrefix: String, window: Duration) {
        precondition(!keyPrefix.contains("{") && !keyPrefix.contains("}"), "keyPrefix must not contain { or }")
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.windowMilliseconds = max(1, window.wholeMilliseconds)
    }

    /// Counts one attempt in each bucket, in one round trip.
    /// - Parameter buckets: Bucket names (for example `login:address:192.0.2.1`; no `{` or `}`).
    /// - Returns: The count of each bucket, in order.
    public func hit(_ buckets: [String]) async throws -> [Count] {
        let calls = buckets.map { bucket in
            PipelinedCall.script(Self.increment, keys: [self.key(bucket)], arguments: [self.windowMilliseconds])
        }
        return try await self.redis.pipelineWithScripts(calls).map { result in
            let pair = try result.get().decode(as: [Int].self)
            guard pair.count == 2 else {
                throw RedisError(.unexpectedReply, "rate limit script returned \(pair.count) values")
            }
            return Count(count: pair[0], resetsInMilliseconds: pair[1])
        }
    }

    /// Counts one attempt in each of two buckets, in one round trip.
    /// - Parameters:
    ///   - first: The first bucket.
    ///   - second: The second bucket.
    /// - Returns: Both counts.
    public func hit(_ first: String, _ second: String) async throws -> (Count, Count) {
        let counts = try await self.hit([first, second])
        return (counts[0], counts[1])
    }

    /// Forgets a bucket's attempts (for example an account's, after a successful sign-in).
    /// - Parameter bucket: The bucket.
    public func reset(_ bucket: String) async throws {
        _ = try await self.redis.delete(self.key(bucket))
    }

    func key(_ bucket: String) -> String {
        self.keyPrefix + "ratelimit:{" + bucket + "}"
    }

    /// KEYS[1] bucket; ARGV[1] window ms. Returns {count, ms until the window ends}.
    static let increment = RedisScript(
        """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          ttl = tonumber(ARGV[1])
        end
        return {n, ttl}
        """
    )
}
