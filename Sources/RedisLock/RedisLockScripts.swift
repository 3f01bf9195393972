import RedisClient

/// The Lua scripts behind the lock: each check-and-act is one script, so it is atomic on the server.
enum RedisLockScripts {
    /// KEYS: lock, fence counter. ARGV: token, lease ms.
    /// Returns `{1, fence}` when acquired (the fence counter is incremented only then), `{0, pttl}` when held.
    static let acquire = RedisScript(
        """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
          return {1, redis.call('INCR', KEYS[2])}
        end
        return {0, redis.call('PTTL', KEYS[1])}
        """
    )

    /// KEYS: lock. ARGV: token, channel, lock name. Deletes the lock only if the token still holds it, then
    /// announces the release. Returns 1 when released, 0 when the token no longer held it.
    static let release = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          redis.call('PUBLISH', ARGV[2], ARGV[3])
          return 1
        end
        return 0
        """
    )

    /// KEYS: lock. ARGV: token, lease ms. Renews the lease only if the token still holds it.
    /// Returns 1 when renewed, 0 when the token no longer held it.
    static let extend = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """
    )
}
