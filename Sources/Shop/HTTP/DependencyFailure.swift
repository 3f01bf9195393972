import HTTPTypes
import PostgresNIO
import RedisCache
import RedisClient
import _ConnectionPoolModule

/// The one mapping of dependency failures to answers: a failure that says a dependency cannot do the work *now*
/// (PostgreSQL or Redis unreachable, timing out, out of memory, busy, loading, read-only) is `503` with
/// `Retry-After`, wherever in a request it happens; anything else is left to the caller (and ends as a `500`:
/// the service's fault).
enum DependencyFailure {
    /// The `503` for `error`, or nil when it is not a dependency being unavailable.
    static func apiError(for error: any Error) -> APIError? {
        if DatabaseAvailability.isUnavailable(error) {
            return Self.unavailable("The database cannot be reached right now; try again shortly.")
        }
        switch error {
        case let error as RedisError where error.isUnavailability:
            return Self.unavailable("Redis cannot do the work right now; try again shortly.")
        case let error as RedisCacheError where error.code == .redisUnavailable:
            return Self.unavailable("Redis cannot do the work right now; try again shortly.")
        default:
            return nil
        }
    }

    /// A short description for the log line (never a payload).
    static func dependency(of error: any Error) -> String {
        if DatabaseAvailability.isUnavailable(error) { return "postgresql" }
        return "redis"
    }

    private static func unavailable(_ detail: String) -> APIError {
        APIError(status: .serviceUnavailable, code: .serviceUnavailable, detail: detail, headers: [.retryAfter: "2"])
    }
}

/// Tells "PostgreSQL cannot be reached" (a 503: try again) apart from errors that are the service's fault.
enum DatabaseAvailability {
    static func isUnavailable(_ error: any Error) -> Bool {
        if error is ConnectionPoolError || error is DatabaseUnavailable { return true }
        if let error = error as? PostgresTransactionError {
            // The server went away during BEGIN, the work, COMMIT or the rollback.
            let parts: [(any Error)?] = [error.beginError, error.closureError, error.commitError, error.rollbackError]
            return parts.contains { $0.map(Self.isUnavailable) ?? false }
        }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
            return true
        case .server:
            // 08xxx connection exceptions, 57P0x server shutting down, 53300 too many connections.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P0") || state == "53300"
        default:
            return false
        }
    }
}
