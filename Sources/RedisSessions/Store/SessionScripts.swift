import RedisClient

/// The Lua scripts of the store. Each touches exactly one key, so each runs on one Redis Cluster slot.
///
/// A session is a hash under `<prefix>session:{<sha256 of id>}` with the fields
/// `v` (value, JSON), `u` (user id or empty), `c` (created), `s` (last seen), `d` (absolute deadline),
/// `a` (user agent), `i` (address); times are milliseconds since the Unix epoch.
/// A user's index is a sorted set under `<prefix>user:{<user id>}:sessions` whose members are the sessions'
/// hashes, scored by their absolute deadlines.
enum SessionScripts {
    /// KEYS[1] session; ARGV: value, user, now, deadline, user agent, address, ttl ms. Returns 1, or 0 when
    /// the key exists already (never overwrite a live session).
    static let create = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'u', ARGV[2], 'c', ARGV[3], 's', ARGV[3], 'd', ARGV[4],
          'a', ARGV[5], 'i', ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[7])
        return 1
        """
    )

    /// KEYS[1] session; ARGV: now, idle ms, touch interval ms.
    ///
    /// Returns 0 when the session does not exist or its absolute deadline has passed (then it is deleted).
    /// Otherwise returns the fields `v u c s d a i`; when the last recorded use is at least the touch interval
    /// old, it first records `now` and sets the TTL to min(idle, deadline - now), so the TTL never outlives
    /// the absolute deadline.
    static let load = RedisScript(
        """
        local f = redis.call('HMGET', KEYS[1], 'v', 'u', 'c', 's', 'd', 'a', 'i')
        if not f[1] then return 0 end
        local now = tonumber(ARGV[1])
        local deadline = tonumber(f[5])
        if not deadline or now >= deadline then
          redis.call('DEL', KEYS[1])
          return 0
        end
        if now - (tonumber(f[4]) or 0) >= tonumber(ARGV[3]) then
          redis.call('HSET', KEYS[1], 's', ARGV[1])
          redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), deadline - now))
          f[4] = ARGV[1]
        end
        return f
        """
    )

    /// KEYS[1] session; ARGV: value. Replaces the value of a live session without touching its TTL;
    /// returns 0 when the session is gone (it is not resurrected).
    static let update = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[1])
        return 1
        """
    )

    /// KEYS[1] session. Deletes it and returns its user id (empty when it had none or did not exist).
    static let delete = RedisScript(
        """
        local u = redis.call('HGET', KEYS[1], 'u')
        redis.call('DEL', KEYS[1])
        return u or ''
        """
    )

    /// KEYS[1] index; ARGV: member, deadline, now. Drops entries whose deadline has passed, adds the member
    /// and lets the index expire with its last deadline.
    static let indexAdd = RedisScript(
        """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        local ttl = tonumber(last[2]) - tonumber(ARGV[3])
        if ttl < 1 then ttl = 1 end
        redis.call('PEXPIRE', KEYS[1], ttl)
        return 1
        """
    )

    /// KEYS[1] index; ARGV: now. Drops entries whose deadline has passed and returns the remaining members
    /// (oldest first). Members whose session expired idle are still there; callers check the sessions.
    static let indexList = RedisScript(
        """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """
    )
}

/// The key names of a store.
struct SessionKeys: Sendable {
    let prefix: String

    /// `<prefix>session:{<hash>}`: found from the identifier alone.
    func session(hash: String) -> String {
        self.prefix + "session:{" + hash + "}"
    }

    /// `<prefix>user:{<user id>}:sessions`: the user's index, in the user's own slot.
    func index(userID: String) -> String {
        self.prefix + "user:{" + userID + "}:sessions"
    }
}
