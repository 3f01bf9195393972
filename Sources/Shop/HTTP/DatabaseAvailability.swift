import PostgresNIO
import _ConnectionPoolModule

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
