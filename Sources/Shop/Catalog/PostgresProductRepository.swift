public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Products straight from PostgreSQL.
public struct PostgresProductRepository: ProductRepository {
    let client: Database
    let logger: Logger

    /// Creates the repository.
    /// - Parameters:
    ///   - client: A running client.
    ///   - logger: For query logging.
    public init(client: Database, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func list(offset: Int, limit: Int) async throws -> ProductPage {
        // One round trip: the window count gives the total with the page. A page past the end has no
        // rows to carry it, so the total is then read on its own.
        let rows = try await self.client.query(
            """
            SELECT id, name, description, price::text, currency, stock, updated_at, count(*) OVER () AS total
            FROM products ORDER BY name, id OFFSET \(offset) LIMIT \(limit)
            """,
            logger: self.logger
        )
        var items: [Product] = []
        var total: Int?
        for try await (id, name, description, price, currency, stock, updatedAt, count) in rows.decode(
            (UUID, String, String, String, String, Int, Date, Int).self
        ) {
            items.append(
                Product(
                    id: id,
                    name: name,
                    description: description,
                    price: price,
                    currency: currency,
                    stock: stock,
                    updatedAt: updatedAt
                )
            )
            total = count
        }
        if let total {
            return ProductPage(items: items, totalItems: total)
        }
        let countRows = try await self.client.query("SELECT count(*) FROM products", logger: self.logger)
        var count = 0
        for try await (value) in countRows.decode(Int.self) { count = value }
        return ProductPage(items: [], totalItems: count)
    }

    public func find(id: UUID) async throws -> Product? {
        let rows = try await self.client.query(
            """
            SELECT id, name, description, price::text, currency, stock, updated_at
            FROM products WHERE id = \(id)
            """,
            logger: self.logger
        )
        for try await (id, name, description, price, currency, stock, updatedAt) in rows.decode(
            (UUID, String, String, String, String, Int, Date).self
        ) {
            return Product(
                id: id,
                name: name,
                description: description,
                price: price,
                currency: currency,
                stock: stock,
                updatedAt: updatedAt
            )
        }
        return nil
    }

    public func create(id: UUID, _ draft: ProductDraft) async throws -> Product {
        let rows = try await self.client.query(
            """
            INSERT INTO products (id, name, description, price, currency, stock)
            VALUES (\(id), \(draft.name), \(draft.description), \(draft.price)::numeric, \(draft.currency),
                    \(draft.stock))
            RETURNING id, name, description, price::text, currency, stock, updated_at
            """,
            logger: self.logger
        )
        guard let product = try await Self.firstProduct(rows) else {
            throw PostgresProductRepositoryError(message: "INSERT returned no row")
        }
        return product
    }

    public func update(id: UUID, _ draft: ProductDraft) async throws -> Product? {
        let rows = try await self.client.query(
            """
            UPDATE products
            SET name = \(draft.name), description = \(draft.description), price = \(draft.price)::numeric,
                currency = \(draft.currency), stock = \(draft.stock), version = version + 1, updated_at = now(),
                low_stock_alerted = low_stock_alerted AND \(draft.stock) <= stock
            WHERE id = \(id)
            RETURNING id, name, description, price::text, currency, stock, updated_at
            """,
            logger: self.logger
        )
        return try await Self.firstProduct(rows)
    }

    public func delete(id: UUID) async throws -> Bool {
        do {
            let rows = try await self.client.query(
                "DELETE FROM products WHERE id = \(id) RETURNING id",
                logger: self.logger
            )
            var deleted = false
            for try await _ in rows { deleted = true }
            return deleted
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            // foreign_key_violation: order lines refer to it.
            throw ProductInUseError(id: id)
        }
    }

    private static func firstProduct(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws
        -> Product?
    {
        for try await (id, name, description, price, currency, stock, updatedAt) in rows.decode(
            (UUID, String, String, String, String, Int, Date).self
        ) {
            return Product(
                id: id,
                name: name,
                description: description,
                price: price,
                currency: currency,
                stock: stock,
                updatedAt: updatedAt
            )
        }
        return nil
    }
}

struct PostgresProductRepositoryError: Error, CustomStringConvertible {
    let message: String
    var description: String { "PostgresProductRepository: \(self.message)" }
}
