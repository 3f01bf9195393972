public import Hummingbird

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// `GET /api/v1/admin/instances` (admins): every `shop serve` of the fleet from the instance registry, live ones
/// first, with what each runs.
public struct InstancesController: Sendable {
    let registry: InstanceRegistry
    let instanceID: String
    let liveness: InstanceLiveness

    /// Creates the controller.
    /// - Parameters:
    ///   - registry: The registry.
    ///   - instanceID: This instance's id (named in `meta`).
    ///   - liveness: The heartbeat interval and the rule a listing applies.
    public init(registry: InstanceRegistry, instanceID: String, liveness: InstanceLiveness) {
        self.registry = registry
        self.instanceID = instanceID
        self.liveness = liveness
    }

    /// The routes, to add under `/api/v1/admin/instances`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.list)
        return routes
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [InstanceView], InstancesMeta
    > {
        Envelope(
            data: try await self.registry.list().map(InstanceView.init),
            meta: InstancesMeta(
                instance: self.instanceID,
                heartbeatIntervalMs: self.liveness.interval.milliseconds,
                missingAfterMs: self.liveness.missingAfter.milliseconds
            )
        )
    }
}

/// One instance, as `GET /api/v1/admin/instances` shows it.
public struct InstanceView: Codable, Sendable, Equatable {
    /// `INSTANCE_ID`.
    public var id: String
    /// `live` while its heartbeat is recent, `missing` after three intervals without one.
    public var status: InstanceStatus
    public var version: String
    public var host: String
    public var pid: Int
    public var httpPort: Int
    /// `standalone`, `cluster` or `sentinel`.
    public var redisMode: String
    /// What it runs.
    public var roles: Roles
    public var startedAt: Date
    public var lastHeartbeatAt: Date

    /// What an instance runs besides the HTTP API.
    public struct Roles: Codable, Sendable, Equatable {
        /// The scheduler (`JOBS_ENABLED`); each tick still runs on one instance of those that do.
        public var scheduler: Bool
        /// The queue's consumer groups (`QUEUE_CONSUMERS_ENABLED`).
        public var queueConsumers: Bool
        /// The outbox relay (`OUTBOX_RELAY_ENABLED`).
        public var outboxRelay: Bool
    }

    init(_ entry: InstanceRegistry.Entry) {
        let record = entry.record
        self.id = record.id
        self.status = entry.status
        self.version = record.version
        self.host = record.host
        self.pid = record.pid
        self.httpPort = record.httpPort
        self.redisMode = record.redisMode
        self.roles = Roles(
            scheduler: record.scheduler,
            queueConsumers: record.queueConsumers,
            outboxRelay: record.outboxRelay
        )
        self.startedAt = Date(timeIntervalSince1970: Double(record.startedAtMilliseconds) / 1000)
        self.lastHeartbeatAt = Date(timeIntervalSince1970: Double(entry.lastHeartbeatMilliseconds) / 1000)
    }
}

/// `meta` of the instance listing.
public struct InstancesMeta: Codable, Sendable, Equatable {
    /// The instance that answered.
    public var instance: String
    /// How often each instance writes its heartbeat.
    public var heartbeatIntervalMs: Int64
    /// How old a heartbeat may be before its instance is `missing`.
    public var missingAfterMs: Int64
}
