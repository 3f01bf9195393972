public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Where accounts are stored.
public protocol UserRepository: Sendable {
    /// The user with this e-mail address, compared case-insensitively.
    /// - Parameter email: The address.
    func find(email: String) async throws -> StoredUser?

    /// Creates a user.
    /// - Parameters:
    ///   - email: The address (must be unique, case-insensitively).
    ///   - passwordHash: The bcrypt hash.
    ///   - role: The role.
    /// - Returns: The new user.
    /// - Throws: ``DuplicateEmailError`` when the address is taken.
    func create(email: String, passwordHash: PasswordHash, role: Role) async throws -> AuthenticatedUser

    /// Changes a user's role.
    /// - Parameters:
    ///   - id: The user.
    ///   - role: The new role.
    /// - Returns: Whether the user exists.
    func setRole(id: UUID, role: Role) async throws -> Bool

    /// Replaces a user's password hash.
    /// - Parameters:
    ///   - id: The user.
    ///   - hash: The new bcrypt hash.
    /// - Returns: Whether the user exists.
    func setPasswordHash(id: UUID, hash: PasswordHash) async throws -> Bool
}

/// The e-mail address belongs to an account already.
public struct DuplicateEmailError: Error, Sendable {}

/// Users in PostgreSQL (`users`, migration 1).
public struct PostgresUserRepository: UserRepository {
    let client: Database
    let logger: Logger

    /// Creates the repository.
    /// - Parameters:
    ///   - client: The PostgreSQL client.
    ///   - logger: The logger for queries.
    public init(client: Database, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The user with this e-mail address, compared case-insensitively.
    public func find(email: String) async throws -> StoredUser? {
        let rows = try await self.client.query(
            """
            SELECT id, email, password_hash, role, created_at FROM users WHERE lower(email) = lower(\(email))
            """,
            logger: self.logger
        )
        for try await (id, email, hash, role, createdAt) in rows.decode((UUID, String, String, String, Date).self) {
            return StoredUser(
                user: AuthenticatedUser(
                    id: id,
                    email: email,
                    role: Role(rawValue: role) ?? .user,
                    createdAt: createdAt
                ),
                passwordHash: PasswordHash(hash)
            )
        }
        return nil
    }

    /// Inserts a user; a taken address (unique index on `lower(email)`) throws ``DuplicateEmailError``.
    public func create(email: String, passwordHash: PasswordHash, role: Role) async throws -> AuthenticatedUser {
        let id = UUID()
        do {
            let rows = try await self.client.query(
                """
                INSERT INTO users (id, email, password_hash, role)
                VALUES (\(id), \(email), \(passwordHash.value), \(role.rawValue))
                RETURNING created_at
                """,
                logger: self.logger
            )
            for try await createdAt in rows.decode(Date.self) {
                return AuthenticatedUser(id: id, email: email, role: role, createdAt: createdAt)
            }
            throw PostgresRowMissing()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw DuplicateEmailError()
        }
    }

    /// Changes the role; false when there is no such user.
    public func setRole(id: UUID, role: Role) async throws -> Bool {
        let rows = try await self.client.query(
            "UPDATE users SET role = \(role.rawValue) WHERE id = \(id) RETURNING id",
            logger: self.logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Replaces the password hash; false when there is no such user.
    public func setPasswordHash(id: UUID, hash: PasswordHash) async throws -> Bool {
        let rows = try await self.client.query(
            "UPDATE users SET password_hash = \(hash.value) WHERE id = \(id) RETURNING id",
            logger: self.logger
        )
        for try await _ in rows { return true }
        return false
    }
}

struct PostgresRowMissing: Error {}
