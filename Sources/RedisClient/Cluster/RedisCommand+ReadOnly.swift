extension RedisCommand {
    /// The commands a replica may serve with ``RedisConfiguration/ReadFrom/replicaPreferred``: reads that never
    /// change data, whatever their arguments. Anything not listed (`GETEX`, `GETDEL`, `SORT`, scripts, blocking reads)
    /// goes to the primary.
    static let readOnlyNames: Set<String> = [
        "GET", "MGET", "GETRANGE", "STRLEN", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME",
        "HGET", "HMGET", "HGETALL", "HEXISTS", "HLEN", "HKEYS", "HVALS", "HSTRLEN",
        "LRANGE", "LLEN", "LINDEX", "LPOS",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD",
        "ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZRANK",
        "ZREVRANK",
        "XRANGE", "XREVRANGE", "XLEN", "XINFO", "XPENDING",
    ]

    /// True when the command is on the fixed allow-list of commands that only read (``readOnlyNames``); on Redis
    /// Cluster with ``RedisConfiguration/ReadFrom/replicaPreferred`` such a command may be served by a replica.
    public var isReadOnly: Bool {
        Self.readOnlyNames.contains(self.name.uppercased())
    }
}
