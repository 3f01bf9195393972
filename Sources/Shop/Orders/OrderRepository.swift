public import Logging
public import PostgresNIO

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The idempotency record written with an order (see ``IdempotencyStore``).
public struct IdempotencyReceipt: Sendable {
    /// The client's `Idempotency-Key`.
    public var key: String
    /// The hash of the normalized request.
    public var requestHash: String
}

/// Orders in PostgreSQL.
public struct OrderRepository: Sendable {
    let client: Database
    let logger: Logger

    /// Creates the repository.
    public init(client: Database, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Writes the order, its items and its idempotency record on `connection` (inside the transaction that
    /// took the stock). Returns the order and its response body.
    func insert(
        on connection: PostgresConnection,
        userID: UUID,
        lines: [StockLine],
        products: [UUID: PricedProduct],
        receipt: IdempotencyReceipt,
        trace: [String: String] = [:],
        encode: (Order) throws -> String
    ) async throws -> (order: Order, body: String) {
        let currencies = Set(products.values.map(\.currency))
        guard currencies.count == 1, let currency = currencies.first else { throw OrderError.mixedCurrencies }
        var items: [OrderItem] = []
        var totalCents = 0
        for line in lines {
            let product = products[line.productID]!
            guard let cents = Cents.parse(product.price) else { throw OrderError.invalidPrice(line.productID) }
            // Lines are at most 1,000 units of a price below 10^10: no product overflows, nor a sum of 100.
            totalCents += cents * line.quantity
            items.append(OrderItem(productId: line.productID, quantity: line.quantity, unitPrice: product.price))
        }
        // `orders.total` is numeric(12, 2): refuse a total it cannot hold before writing anything.
        guard totalCents <= Order.maxTotalCents else { throw OrderError.totalTooLarge }
        // Whole seconds, as the API shows them, so the stored response matches later reads.
        let createdAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let order = Order(
            id: UUID(),
            status: "placed",
            items: items,
            total: Cents.format(totalCents),
            currency: currency,
            createdAt: createdAt
        )
        let body = try encode(order)
        // One statement, one round trip: the order, its items and its idempotency record. The foreign keys of the
        // items and the record are checked at the statement's end, when the order's row is there.
        try await connection.query(
            """
            WITH new_order AS (
                INSERT INTO orders (id, user_id, status, total, currency, created_at, updated_at)
                VALUES (\(order.id), \(userID), \(order.status), \(order.total)::numeric, \(currency), \(createdAt), \(createdAt))
            ), new_items AS (
                INSERT INTO order_items (order_id, product_id, quantity, unit_price)
                SELECT \(order.id), product_id, quantity, unit_price::numeric
                FROM unnest(\(items.map(\.productId))::uuid[], \(items.map(\.quantity))::int[], \(items.map(\.unitPrice))::text[])
                    AS item(product_id, quantity, unit_price)
            )
            INSERT INTO idempotency_records (user_id, key, request_hash, order_id, response_status, response_body)
            VALUES (\(userID), \(receipt.key), \(receipt.requestHash), \(order.id), 201, \(body))
            """,
            logger: self.logger
        )
        // The post-processing happens later, from the queue: the event commits with the order or not at all.
        let event = OrderPlacedEvent(
            orderId: order.id,
            userId: userID,
            total: order.total,
            currency: currency,
            units: items.reduce(0) { $0 + $1.quantity },
            placedAt: createdAt,
            items: items.map { OrderPlacedEvent.Item(productId: $0.productId, quantity: $0.quantity) }
        )
        try await Outbox.append(
            OutboxEvent(
                topic: "orders",
                type: "order.placed",
                key: userID.uuidString.lowercased(),
                payload: String(decoding: try JSONCoding.encoder.encode(event), as: UTF8.self),
                headers: trace
            ),
            on: connection,
            logger: self.logger
        )
        return (order, body)
    }

    /// The durable idempotency record of a key, if an order was placed with it within `retention`.
    func receipt(userID: UUID, key: String, retention: Duration) async throws -> (requestHash: String, body: String)? {
        let seconds = Double(retention.components.seconds)
        let rows = try await self.client.query(
            """
            SELECT request_hash, response_body FROM idempotency_records
            WHERE user_id = \(userID) AND key = \(key) AND created_at > now() - make_interval(secs => \(seconds))
            """,
            logger: self.logger
        )
        for try await (hash, body) in rows.decode((String, String).self) { return (hash, body) }
        return nil
    }

    /// Deletes a user's expired record of `key` so the key can be used again (records older than `retention`).
    func forgetExpiredReceipt(userID: UUID, key: String, retention: Duration) async throws {
        let seconds = Double(retention.components.seconds)
        try await self.client.query(
            """
            DELETE FROM idempotency_records
            WHERE user_id = \(userID) AND key = \(key) AND created_at <= now() - make_interval(secs => \(seconds))
            """,
            logger: self.logger
        )
    }

    /// A page of the user's orders, newest first, with the total count.
    public func list(userID: UUID, offset: Int, limit: Int) async throws -> (orders: [Order], total: Int) {
        let rows = try await self.client.query(
            """
            SELECT id, status, total::text, currency, created_at, count(*) OVER () FROM orders
            WHERE user_id = \(userID) ORDER BY created_at DESC, id OFFSET \(offset) LIMIT \(limit)
            """,
            logger: self.logger
        )
        var orders: [Order] = []
        var total: Int?
        for try await (id, status, sum, currency, createdAt, count) in rows.decode(
            (UUID, String, String, String, Date, Int).self
        ) {
            orders.append(
                Order(id: id, status: status, items: [], total: sum, currency: currency, createdAt: createdAt)
            )
            total = count
        }
        let items = try await self.items(of: orders.map(\.id))
        for index in orders.indices { orders[index].items = items[orders[index].id] ?? [] }
        if let total { return (orders, total) }
        let counted = try await self.client.query(
            "SELECT count(*) FROM orders WHERE user_id = \(userID)",
            logger: self.logger
        )
        var count = 0
        for try await value in counted.decode(Int.self) { count = value }
        return (orders, count)
    }

    /// One of the user's orders; nil when it does not exist or belongs to someone else.
    public func find(userID: UUID, orderID: UUID) async throws -> Order? {
        let rows = try await self.client.query(
            """
            SELECT id, status, total::text, currency, created_at FROM orders
            WHERE id = \(orderID) AND user_id = \(userID)
            """,
            logger: self.logger
        )
        for try await (id, status, sum, currency, createdAt) in rows.decode((UUID, String, String, String, Date).self) {
            let items = try await self.items(of: [id])
            return Order(
                id: id,
                status: status,
                items: items[id] ?? [],
                total: sum,
                currency: currency,
                createdAt: createdAt
            )
        }
        return nil
    }

    private func items(of orderIDs: [UUID]) async throws -> [UUID: [OrderItem]] {
        guard !orderIDs.isEmpty else { return [:] }
        let rows = try await self.client.query(
            """
            SELECT order_id, product_id, quantity, unit_price::text FROM order_items
            WHERE order_id = ANY(\(orderIDs)) ORDER BY order_id, product_id
            """,
            logger: self.logger
        )
        var items: [UUID: [OrderItem]] = [:]
        for try await (orderID, productID, quantity, price) in rows.decode((UUID, UUID, Int, String).self) {
            items[orderID, default: []].append(OrderItem(productId: productID, quantity: quantity, unitPrice: price))
        }
        return items
    }
}

/// Why an order could not be written.
enum OrderError: Error {
    case mixedCurrencies
    case invalidPrice(UUID)
    /// The total is more than `orders.total` (numeric(12, 2)) holds.
    case totalTooLarge
}
