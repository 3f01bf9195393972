public import Logging
public import RedisClient
public import RedisLock

#if canImport(FoundationEssentials)
    import FoundationEssentials
    import Foundation
#else
    import Foundation
#endif

extension ShopConfiguration {
    /// Every instance writes its heartbeat every 5 s; it is `missing` after 15 s without one and forgotten after an
    /// hour.
    public static let instanceLiveness = InstanceLiveness(interval: .seconds(5), forgetAfter: .seconds(3600))

    /// `standalone`, `cluster` or `sentinel`: the Redis deployment `REDIS_URL` names.
    var redisMode: String {
        switch self.redis.topology {
        case .standalone: "standalone"
        case .cluster: "cluster"
        case .sentinel: "sentinel"
        }
    }
}

/// The shop's instance registry, under `JOBS_KEY_PREFIX`, describing this process.
func makeInstanceRegistry(
    configuration: ShopConfiguration,
    redis: RedisClient,
    listening: ListeningAddress,
    locks: RedisLocks,
    logger: Logger
) -> InstanceRegistry {
    let startedAt = Int64(Date().timeIntervalSince1970 * 1000)
    let process = ProcessInfo.processInfo
    let host = process.hostName
    let pid = Int(process.processIdentifier)
    return InstanceRegistry(
        redis: redis,
        keyPrefix: configuration.jobs.keyPrefix,
        liveness: ShopConfiguration.instanceLiveness,
        logger: logger
    ) {
        InstanceRecord(
            id: configuration.instanceID,
            version: InstanceRecord.buildVersion,
            host: host,
            pid: pid,
            httpPort: listening.port,
            redisMode: configuration.redisMode,
            scheduler: configuration.jobs.enabled,
            queueConsumers: configuration.queue.consumersEnabled,
            outboxRelay: configuration.queue.relayEnabled,
            startedAtMilliseconds: startedAt,
            lockWaiters: locks.waitingCounts()
        )
    }
}
