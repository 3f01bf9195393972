/// A snapshot of a client's connections and of what waits on them (``RedisClient/poolStatistics()``), summed over
/// every node's pool on a cluster (replica pools included) and the current primary's with Sentinel.
///
/// Taken under each pool's lock when asked, never sampled in the background: read it where metrics are scraped
/// (the shop sets its `redis_pool_*` gauges from it on each `GET /metrics`).
public struct RedisPoolStatistics: Sendable, Hashable {
    /// Shared (auto-pipelined) connections that are open.
    public var sharedConnections: Int = 0
    /// Dedicated connections (blocking commands, `WATCH`, pub/sub leases) that exist or are being opened: leased,
    /// idle or being checked.
    public var dedicatedConnections: Int = 0
    /// Dedicated connections idle in the pool, ready to be leased.
    public var idleDedicatedConnections: Int = 0
    /// Callers waiting for a shared connection to open or for a dedicated connection.
    public var waiters: Int = 0
    /// Commands, pipelines and transactions sent through the client and not yet answered.
    public var inFlightCommands: Int = 0

    /// Creates an empty snapshot.
    public init() {}

    /// The sum of two snapshots (pools of several nodes).
    static func + (lhs: Self, rhs: Self) -> Self {
        var sum = lhs
        sum.sharedConnections += rhs.sharedConnections
        sum.dedicatedConnections += rhs.dedicatedConnections
        sum.idleDedicatedConnections += rhs.idleDedicatedConnections
        sum.waiters += rhs.waiters
        sum.inFlightCommands += rhs.inFlightCommands
        return sum
    }
}
