import HummingbirdBcrypt
public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Loads demo data: a dozen products, an admin and a demo user. Running it again changes nothing.
public struct Seeder: Sendable {
    /// The demo accounts. Their passwords are for a local machine only (the README gives them).
    public static let adminEmail = "admin@example.com"
    /// The admin's local-only password.
    public static let adminPassword = "admin-password-local"
    /// The demo user's e-mail.
    public static let demoEmail = "demo@example.com"
    /// The demo user's local-only password.
    public static let demoPassword = "demo-password-local"

    /// When the demo rows were "created", so that they look the same on every machine.
    static let seededAt = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    struct DemoProduct {
        let id: UUID
        let name: String
        let description: String
        let price: String
        let stock: Int
    }

    /// The products, with fixed ids so the README can name them. One has exactly 10 units.
    static let products: [DemoProduct] = [
        .init(id(1), "Espresso beans 1 kg", "Dark roast, notes of cocoa and hazelnut.", "24.90", 140),
        .init(id(2), "Pour-over kettle", "Gooseneck spout, 1 litre, stainless steel.", "39.00", 35),
        .init(id(3), "Hand grinder", "Ceramic burrs, 30 settings.", "54.50", 22),
        .init(id(4), "Limited edition mug", "Hand-glazed stoneware; only ten were made.", "12.50", 10),
        .init(id(5), "Paper filters (100)", "Unbleached, size 02.", "6.20", 500),
        .init(id(6), "Digital scale", "0.1 g resolution with a built-in timer.", "29.99", 60),
        .init(id(7), "Milk frother", "Whisks hot or cold milk in 60 seconds.", "18.75", 48),
        .init(id(8), "Cold brew bottle", "1 litre glass bottle with a mesh filter.", "21.00", 75),
        .init(id(9), "Travel tumbler", "Double-walled, keeps drinks hot for 6 hours.", "24.00", 120),
        .init(id(10), "Barista apron", "Waxed canvas, leather straps.", "45.00", 15),
        .init(id(11), "Tasting cups (set of 4)", "Porcelain cupping bowls.", "16.40", 40),
        .init(id(12), "Descaling tablets", "Twelve tablets for kettles and machines.", "9.95", 210),
    ]

    /// `0b5c4b1e-7d1f-4c55-9f4e-0000000000NN`.
    private static func id(_ number: Int) -> UUID {
        let suffix = String(number, radix: 16)
        return UUID(uuidString: "0b5c4b1e-7d1f-4c55-9f4e-" + String(repeating: "0", count: 12 - suffix.count) + suffix)!
    }

    let client: PostgresClient
    let logger: Logger

    /// Creates a seeder.
    /// - Parameters:
    ///   - client: A running client on a migrated database.
    ///   - logger: Where progress is logged.
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// What a seed run inserted.
    public struct Report: Sendable, Equatable {
        /// Products inserted by this run.
        public var products: Int
        /// Users inserted by this run.
        public var users: Int

        /// Creates a report.
        public init(products: Int, users: Int) {
            self.products = products
            self.users = users
        }
    }

    /// Inserts whatever demo rows are missing; existing rows (even changed ones) are left alone.
    /// - Returns: How many rows this run inserted.
    @discardableResult
    public func seed() async throws -> Report {
        var report = Report(products: 0, users: 0)
        for product in Self.products {
            let rows = try await self.client.query(
                """
                INSERT INTO products (id, name, description, price, currency, stock, created_at, updated_at)
                VALUES (\(product.id), \(product.name), \(product.description), \(product.price)::numeric, 'USD',
                        \(product.stock), \(Self.seededAt), \(Self.seededAt))
                ON CONFLICT (id) DO NOTHING
                RETURNING id
                """,
                logger: self.logger
            )
            for try await _ in rows { report.products += 1 }
        }
        let users = [
            (UUID(uuidString: "5eed0000-0000-4000-8000-000000000001")!, Self.adminEmail, Self.adminPassword, "admin"),
            (UUID(uuidString: "5eed0000-0000-4000-8000-000000000002")!, Self.demoEmail, Self.demoPassword, "user"),
        ]
        for (id, email, password, role) in users {
            let existing = try await self.client.query(
                "SELECT 1 FROM users WHERE lower(email) = lower(\(email))",
                logger: self.logger
            )
            var exists = false
            for try await _ in existing { exists = true }
            if exists { continue }
            let hash = Bcrypt.hash(password, cost: 12)
            let rows = try await self.client.query(
                """
                INSERT INTO users (id, email, password_hash, role, created_at)
                VALUES (\(id), \(email), \(hash), \(role), \(Self.seededAt))
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                logger: self.logger
            )
            for try await _ in rows { report.users += 1 }
        }
        self.logger.info("seeded", metadata: ["products": "\(report.products)", "users": "\(report.users)"])
        return report
    }
}

extension Seeder.DemoProduct {
    init(_ id: UUID, _ name: String, _ description: String, _ price: String, _ stock: Int) {
        self.init(id: id, name: name, description: description, price: price, stock: stock)
    }
}
