import PostgresNIO
import _ConnectionPoolModule

/// Tells "PostgreSQL cannot be reached" (a 503: try again) apart from errors that are the service's fault.
enum DatabaseAvailability {
    static func isUnavailable(_ error: any Error) -> Bool {
        if error is ConnectionPoolError || error is DatabaseUnavailable { return true }
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
