import HummingbirdBcrypt
import PostgresNIO
import Shop
import Testing

@Suite("Migrations and seed")
struct MigrationTests {
    @Test("migrating twice applies every migration once")
    func twice() async throws {
        try await withTestDatabase { database in
            try await withClient(database) { client in
                let migrator = Migrator(client: client, logger: TestServers.logger)
                #expect(try await migrator.migrate() == Migration.all.map(\.version))
                #expect(try await migrator.migrate() == [])
                let value1 = try await client.scalar("SELECT count(*) FROM schema_migrations")
                #expect(value1 == Migration.all.count)
                let checksums = try await client.query(
                    "SELECT version, checksum FROM schema_migrations ORDER BY version"
                )
                var stored: [Int: String] = [:]
                for try await (version, checksum) in checksums.decode((Int, String).self) {
                    stored[version] = checksum
                }
                for migration in Migration.all {
                    #expect(stored[migration.version] == migration.checksum)
                }
            }
        }
    }

    @Test("three instances migrating a fresh database at once apply each migration exactly once")
    func concurrent() async throws {
        try await withTestDatabase { database in
            // Three independent clients, like three processes starting together.
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await withClient(database) { client in
                            try await Migrator(client: client, logger: TestServers.logger).migrate()
                        }
                    }
                }
                var all: [[Int]] = []
                for try await versions in group { all.append(versions) }
                return all
            }
            // Exactly one of them did the work; the others found nothing to do.
            #expect(applied.filter { !$0.isEmpty } == [Migration.all.map(\.version)])
            let (migrations, tables) = try await withClient(database) { client in
                let migrations = try await client.scalar("SELECT count(*) FROM schema_migrations")
                let tables = try await client.scalar(
                    """
                    SELECT count(*) FROM information_schema.tables
                    WHERE table_schema = 'public' AND table_name IN ('users', 'products', 'orders', 'order_items')
                    """
                )
                return (migrations, tables)
            }
            #expect(migrations == Migration.all.count)
            #expect(tables == 4)
        }
    }

    @Test("an applied migration that changed stops migrating with a clear error")
    func changedChecksum() async throws {
        try await withTestDatabase { database in
            try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
                var edited = Migration.all
                edited[1] = Migration(
                    version: 2,
                    name: "create_products",
                    statements: edited[1].statements + ["CREATE INDEX products_stock_idx ON products (stock)"]
                )
                let error = await #expect(throws: MigrationError.self) {
                    try await Migrator(client: client, migrations: edited, logger: TestServers.logger).migrate()
                }
                #expect(
                    error?.description.hasPrefix("migration 2 (create_products) was changed after it was applied")
                        == true
                )
                // Nothing of the edited migration ran, and the lock was released: migrating still works.
                let value2 = try await client.scalar(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'products_stock_idx'"
                )
                #expect(value2 == 0)
                let again = try await Migrator(client: client, logger: TestServers.logger).migrate()
                #expect(again == [])
            }
        }
    }

    @Test("a failing migration leaves no trace and can be fixed by a later build")
    func failingMigrationRollsBack() async throws {
        try await withTestDatabase { database in
            try await withClient(database) { client in
                let broken =
                    Migration.all + [
                        Migration(
                            version: 99,
                            name: "broken",
                            statements: ["CREATE TABLE t99 (id int)", "SELECT * FROM nope"]
                        )
                    ]
                await #expect(throws: (any Error).self) {
                    try await Migrator(client: client, migrations: broken, logger: TestServers.logger).migrate()
                }
                let value3 = try await client.scalar("SELECT count(*) FROM schema_migrations")
                #expect(value3 == Migration.all.count)
                let value4 = try await client.scalar(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 't99'"
                )
                #expect(value4 == 0)
            }
        }
    }

    @Test("the schema enforces its constraints")
    func constraints() async throws {
        try await withTestDatabase { database in
            try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
                let rejected: [PostgresQuery] = [
                    "INSERT INTO products (id, name, price, currency, stock) VALUES (gen_random_uuid(), 'a', -1, 'USD', 1)",
                    "INSERT INTO products (id, name, price, currency, stock) VALUES (gen_random_uuid(), 'a', 1, 'USD', -1)",
                    "INSERT INTO products (id, name, price, currency, stock) VALUES (gen_random_uuid(), 'a', 1, 'usd', 1)",
                    "INSERT INTO products (id, name, price, currency, stock) VALUES (gen_random_uuid(), '', 1, 'USD', 1)",
                    "INSERT INTO users (id, email, password_hash, role) VALUES (gen_random_uuid(), 'a@b.c', 'x', 'root')",
                ]
                for query in rejected {
                    await #expect(throws: PSQLError.self, "\(query.sql)") { try await client.query(query) }
                }
                try await client.query(
                    "INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'Someone@Example.com', 'x')"
                )
                // E-mail addresses are unique regardless of case.
                await #expect(throws: PSQLError.self) {
                    try await client.query(
                        "INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'someone@example.COM', 'x')"
                    )
                }
                let value5 = try await client.scalar("SELECT count(*) FROM users WHERE role = 'user'")
                #expect(value5 == 1)
            }
        }
    }

    @Test("seeding twice inserts the demo data once")
    func seedIsIdempotent() async throws {
        try await withTestDatabase { database in
            try await withClient(database) { client in
                try await Migrator(client: client, logger: TestServers.logger).migrate()
                let seeder = Seeder(client: client, logger: TestServers.logger)
                let first = try await seeder.seed()
                #expect(first == Seeder.Report(products: 12, users: 2))
                let second = try await seeder.seed()
                #expect(second == Seeder.Report(products: 0, users: 0))
                let value6 = try await client.scalar("SELECT count(*) FROM products")
                #expect(value6 == 12)
                let value7 = try await client.scalar("SELECT count(*) FROM products WHERE stock = 10")
                #expect(value7 == 1)
                let value8 = try await client.scalar("SELECT count(*) FROM users")
                #expect(value8 == 2)
                let value9 = try await client.scalar("SELECT count(*) FROM users WHERE role = 'admin'")
                #expect(value9 == 1)

                let rows = try await client.query("SELECT email, password_hash, role FROM users ORDER BY email")
                var users: [(String, String, String)] = []
                for try await row in rows.decode((String, String, String).self) { users.append(row) }
                #expect(users.map(\.0) == [Seeder.adminEmail, Seeder.demoEmail])
                #expect(users.map(\.2) == ["admin", "user"])
                #expect(Bcrypt.verify(Seeder.adminPassword, hash: users[0].1))
                #expect(Bcrypt.verify(Seeder.demoPassword, hash: users[1].1))
                #expect(!Bcrypt.verify(Seeder.demoPassword, hash: users[0].1))
            }
        }
    }
}
