import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The accounts module's administrators, for modules that notify them, read on the caller's transaction.
enum Administrators {
    /// The ids of every administrator, in id order.
    static func ids(on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let rows = try await connection.query("SELECT id FROM users WHERE role = 'admin' ORDER BY id", logger: logger)
        var admins: [UUID] = []
        for try await id in rows.decode(UUID.self) { admins.append(id) }
        return admins
    }
}
