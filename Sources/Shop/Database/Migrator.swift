public import Logging
public import PostgresNIO

/// Applies ``Migration``s in order, each once, tracked in `schema_migrations`.
///
/// Everything happens on one connection holding a PostgreSQL advisory lock, so any number of instances
/// may start at once: the first applies what is pending, the others wait and then find nothing to do.
public struct Migrator: Sendable {
    /// The advisory lock key that serializes migrations (advisory locks are per database).
    public static let advisoryLockKey: Int64 = 7_261_737_001

    let client: PostgresClient
    let migrations: [Migration]
    let logger: Logger

    /// Creates a migrator.
    /// - Parameters:
    ///   - client: A running client.
    ///   - migrations: The migrations to apply (default: the service's schema).
    ///   - logger: Where progress is logged.
    public init(client: PostgresClient, migrations: [Migration] = Migration.all, logger: Logger) {
        self.client = client
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies every pending migration.
    /// - Returns: The versions applied by this call, in order (empty when the schema was up to date).
    /// - Throws: ``MigrationError`` when an applied migration was changed, or any database error.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try self.validateList()
        return try await self.client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: self.logger)
            do {
                let applied = try await self.applyPending(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: self.logger)
                return applied
            } catch {
                // Session-level lock: release it before the connection returns to the pool.
                _ = try? await connection.query(
                    "SELECT pg_advisory_unlock(\(Self.advisoryLockKey))",
                    logger: self.logger
                )
                throw error
            }
        }
    }

    private func applyPending(on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: self.logger
        )
        var done: [Int: (name: String, checksum: String)] = [:]
        let rows = try await connection.query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
            logger: self.logger
        )
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            done[version] = (name, checksum)
        }

        let known = Set(self.migrations.map(\.version))
        for (version, row) in done where !known.contains(version) {
            self.logger.warning(
                "database has a migration this build does not know (applied by a newer version?)",
                metadata: ["version": "\(version)", "name": "\(row.name)"]
            )
        }

        var applied: [Int] = []
        for migration in self.migrations {
            if let row = done[migration.version] {
                guard row.checksum == migration.checksum else {
                    throw MigrationError.checksumMismatch(
                        version: migration.version,
                        name: migration.name,
                        database: row.checksum,
                        build: migration.checksum
                    )
                }
                continue
            }
            try await connection.withTransaction(logger: self.logger) { connection in
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """,
                    logger: self.logger
                )
            }
            self.logger.info(
                "applied migration",
                metadata: ["version": "\(migration.version)", "name": "\(migration.name)"]
            )
            applied.append(migration.version)
        }
        return applied
    }

    private func validateList() throws {
        let versions = self.migrations.map(\.version)
        guard versions == versions.sorted(), Set(versions).count == versions.count, versions.allSatisfy({ $0 > 0 })
        else {
            throw MigrationError.invalidList
        }
    }
}

/// Why migrating stopped.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String

    static func checksumMismatch(version: Int, name: String, database: String, build: String) -> Self {
        MigrationError(
            description:
                "migration \(version) (\(name)) was changed after it was applied: checksum \(database.prefix(12)) "
                + "in the database, \(build.prefix(12)) in this build; add a new migration instead of editing one"
        )
    }

    static let invalidList = MigrationError(
        description: "migration versions must be positive, unique and in ascending order"
    )
}
