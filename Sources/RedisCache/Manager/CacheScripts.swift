import RedisClient

/// The Lua scripts of the cache. Every script touches only keys of one hash tag (an entry and its lease).
enum CacheScripts {
    /// Stores an entry only if the caller's fill token is still the lease of that entry, then drops the lease
    /// and announces the fill. An eviction deletes the lease, so a value loaded before it can never be stored
    /// after it.
    ///
    /// KEYS: entry, lease. ARGV: token, entry bytes, time to live in ms, fill channel. Returns 1 if stored.
    static let fill = RedisScript(
        """
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
        redis.call('DEL', KEYS[2])
        redis.call('PUBLISH', ARGV[4], KEYS[1])
        return 1
        """
    )

    /// Drops a lease if it is still the caller's (after a failed load). KEYS: lease. ARGV: token.
    /// Returns 1 if it was.
    static let releaseLease = RedisScript(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
    )

    /// Stores an entry unconditionally, voiding any fill in progress (its lease), and announces it.
    ///
    /// KEYS: entry, lease. ARGV: entry bytes, time to live in ms, fill channel.
    static let put = RedisScript(
        """
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('DEL', KEYS[2])
        redis.call('PUBLISH', ARGV[3], KEYS[1])
        return 1
        """
    )

    /// Returns the namespace epoch, creating it (from ARGV[1]) when it does not exist. KEYS: epoch.
    static let ensureEpoch = RedisScript(
        """
        local epoch = redis.call('GET', KEYS[1])
        if epoch then return epoch end
        redis.call('SET', KEYS[1], ARGV[1])
        return ARGV[1]
        """
    )
}
