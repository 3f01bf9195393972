/// How one namespace caches: lifetimes, early refresh and stampede handling.
public struct RedisCacheOptions: Sendable {
    /// How long a loaded value is fresh (before jitter). Each fill may override it.
    public var ttl: Duration = .seconds(300)
    /// Spread of the TTL: each fill lives `ttl × (1 ± ttlJitter)`, chosen uniformly, so entries filled together do
    /// not expire together. 0 turns it off; at most 0.5.
    public var ttlJitter: Double = 0.1
    /// How long a "not found" answer of the loader (nil) is cached; nil caches nothing for it. Keep it short:
    /// it is how long a newly created item can stay invisible if it was created without an eviction.
    public var negativeTTL: Duration? = .seconds(30)
    /// How long an entry past its TTL may still be served while one caller reloads it in the background
    /// (stale-while-revalidate). Zero serves nothing stale: an expired entry is a miss. Needs
    /// ``RedisCacheManager/run()`` running; otherwise expired entries are misses.
    public var staleWhileRevalidate: Duration = .zero
    /// Probabilistic early refresh (XFetch): a read refreshes the entry in the background before it expires with
    /// a probability that grows as expiry nears and with how long the value took to load. The value is `β`
    /// of the algorithm; 1 is the usual choice, larger refreshes earlier, 0 turns it off. Needs
    /// ``RedisCacheManager/run()`` running.
    public var earlyRefreshBeta: Double = 1.0
    /// How long a miss waits for another caller (in this or another process) that is already loading the same
    /// key before it loads the value itself.
    public var stampedeWait: Duration = .seconds(1)
    /// How long the fill token of a loading caller lives. A load that takes longer is not stored (its token has
    /// expired); a caller that died while loading blocks others' fills for at most this long.
    public var leaseTTL: Duration = .seconds(5)

    /// Creates the default options.
    public init() {}

    /// Creates options with a TTL and the other defaults.
    /// - Parameter ttl: How long a loaded value is fresh.
    public init(ttl: Duration) {
        self.ttl = ttl
    }

    func validate() throws {
        func invalid(_ message: String) -> RedisCacheError {
            RedisCacheError(.invalidConfiguration, message)
        }
        guard self.ttl > .zero else { throw invalid("ttl must be positive") }
        guard (0...0.5).contains(self.ttlJitter) else { throw invalid("ttlJitter must be between 0 and 0.5") }
        if let negativeTTL, negativeTTL <= .zero { throw invalid("negativeTTL must be positive or nil") }
        guard self.staleWhileRevalidate >= .zero else { throw invalid("staleWhileRevalidate must not be negative") }
        guard self.earlyRefreshBeta >= 0, self.earlyRefreshBeta.isFinite else {
            throw invalid("earlyRefreshBeta must be 0 or more")
        }
        guard self.stampedeWait >= .zero else { throw invalid("stampedeWait must not be negative") }
        guard self.leaseTTL > .zero else { throw invalid("leaseTTL must be positive") }
    }
}
