import Hummingbird
import RedisLock

/// `GET /api/v1/admin/locks` (admins): the locks held now, with their holder, lease left, fencing token and how many
/// tasks of the fleet wait for them — the console's Locks page.
struct LocksAdminController: Sendable {
    /// The lock managers to list, each with a name for its kind of locks (`orders`: stock and users; `jobs`: the
    /// scheduler's).
    let managers: [(name: String, locks: RedisLocks)]
    let registry: InstanceRegistry
    let instanceID: String

    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.list)
        return routes
    }

    /// One held lock.
    struct LockResource: Codable, Sendable, Equatable {
        /// The lock manager (`orders` or `jobs`).
        var manager: String
        var name: String
        /// The holder's instance.
        var holder: String
        var leaseRemainingMs: Int?
        var fencingToken: Int64?
        /// Tasks waiting for it, over the live instances, as of their last heartbeats.
        var waiters: Int
    }

    struct Meta: Codable, Sendable, Equatable {
        var instance: String
        /// How old the waiter counts may be: instances report them with their heartbeat.
        var waitersAsOfMs: Int
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[LockResource], Meta>
    {
        var waiters: [String: Int] = [:]
        for entry in try await self.registry.list() where entry.status == .live {
            for (name, count) in entry.record.lockWaiters ?? [:] { waiters[name, default: 0] += count }
        }
        var locks: [LockResource] = []
        for (manager, lockManager) in self.managers {
            for held in try await lockManager.heldLocks() {
                locks.append(
                    LockResource(
                        manager: manager,
                        name: held.name,
                        holder: held.holder,
                        leaseRemainingMs: held.leaseRemainingMilliseconds,
                        fencingToken: held.fencingToken,
                        // The orders manager's waiters; the scheduler's locks are only ever tried, never waited for.
                        waiters: manager == "orders" ? waiters[held.name] ?? 0 : 0
                    )
                )
            }
        }
        return Envelope(
            data: locks,
            meta: Meta(
                instance: self.instanceID,
                waitersAsOfMs: Int(ShopConfiguration.instanceLiveness.interval / .milliseconds(1))
            )
        )
    }
}
