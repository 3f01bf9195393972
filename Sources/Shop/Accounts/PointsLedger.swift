import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A user's loyalty points as PostgreSQL holds them, with the version every change increments.
public struct PointsBalance: Sendable, Equatable {
    /// The balance.
    public var points: Int64
    /// Grows by one with every change of the balance; copies elsewhere compare it, so they never move backwards.
    public var version: Int64
}

/// Loyalty points in PostgreSQL (`users.points`, `users.points_version`): the accounts module's tables, changed by
/// other modules only through these calls, inside their own transaction.
enum PointsLedger {
    /// Adds `points` to the user's balance on the caller's transaction.
    /// - Returns: The user's e-mail address and new balance; nil for an unknown user.
    static func award(
        _ points: Int64,
        to user: UUID,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (email: String, balance: PointsBalance)? {
        let rows = try await connection.query(
            """
            UPDATE users SET points = points + \(points), points_version = points_version + 1 WHERE id = \(user)
            RETURNING email, points, points_version
            """,
            logger: logger
        )
        for try await (email, balance, version) in rows.decode((String, Int64, Int64).self) {
            return (email, PointsBalance(points: balance, version: version))
        }
        return nil
    }

    /// The user's balance as committed (zero for an unknown user).
    static func balance(
        of user: UUID,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> PointsBalance {
        let rows = try await connection.query(
            "SELECT points, points_version FROM users WHERE id = \(user)",
            logger: logger
        )
        for try await (points, version) in rows.decode((Int64, Int64).self) {
            return PointsBalance(points: points, version: version)
        }
        return PointsBalance(points: 0, version: 0)
    }
}
