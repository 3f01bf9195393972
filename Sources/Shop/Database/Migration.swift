import Crypto

/// One versioned schema change: SQL statements applied together in one transaction.
public struct Migration: Sendable {
    /// The version; migrations apply in ascending order, and a version never changes meaning.
    public let version: Int
    /// A short snake_case name (`create_users`).
    public let name: String
    /// The statements, in order.
    public let statements: [String]

    /// Creates a migration.
    /// - Parameters:
    ///   - version: Its version, unique and increasing.
    ///   - name: A short name.
    ///   - statements: The SQL statements.
    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// SHA-256 of the statements (hex). Changing an applied migration changes this and stops the service.
    public var checksum: String {
        var hasher = SHA256()
        for statement in self.statements {
            hasher.update(data: Array(statement.utf8))
            hasher.update(data: [0])
        }
        return hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
