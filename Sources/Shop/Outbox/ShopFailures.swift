import PostgresNIO
import RedisCache
import RedisClient
import RedisLock
import StreamQueue

/// How the shop's consumers tell the infrastructure's failures (waited out, never dead-lettered) from a
/// message's own (counted toward `QUEUE_MAX_ATTEMPTS`).
enum ShopFailures {
    /// Transient: PostgreSQL or Redis unreachable, busy or failing over; a serialization failure or deadlock; a
    /// lock that stayed busy or whose lease was lost. Everything else is the message's: undecodable, refused by a
    /// rule, a bug.
    static func classify(_ error: any Error) -> QueueFailureKind {
        self.isTransient(error) ? .transient : .message
    }

    static func isTransient(_ error: any Error) -> Bool {
        if QueueFailureKind.classify(error) == .transient { return true }
        if DatabaseAvailability.isUnavailable(error) { return true }
        switch error {
        case let error as PostgresTransactionError:
            return [error.closureError, error.commitError].contains { $0.map(Self.isTransient) ?? false }
        case let error as PSQLError where error.code == .server:
            // Serialization failure, deadlock, lock not available, cancelled by the server (a timeout).
            return ["40001", "40P01", "55P03", "57014"].contains(error.serverInfo?[.sqlState] ?? "")
        case let error as RedisLockError:
            return error.isTimeout || error.isLeaseLost
        case let error as RedisCacheError:
            return error.code == .redisUnavailable
        default:
            return false
        }
    }
}
