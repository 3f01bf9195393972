public import Logging
import PostgresNIO
import StreamQueue

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Places orders: takes stock with the configured strategy, writes the order, and makes
/// `Idempotency-Key` retries and duplicates safe.
public struct OrderService: Sendable {
    /// The answer to an order request, ready to send (also what a replay sends again).
    public struct Answer: Sendable, Equatable {
        /// The status.
        public var status: Int
        /// The body, exactly as first sent.
        public var body: String
        /// Its `Content-Type`.
        public var contentType: String
        /// True when this answers a repeated request with the first request's outcome.
        public var replayed: Bool
    }

    let strategy: any StockStrategy
    let repository: OrderRepository
    let idempotency: IdempotencyStore
    let retention: Duration
    let logger: Logger
    /// Told, after an order committed, which products' stock it took.
    let stockTaken: @Sendable ([UUID]) async -> Void
    /// Told, after an order committed (not for replays), which user placed which order.
    let orderPlaced: @Sendable (UUID, Order) async -> Void

    /// Creates the service.
    public init(
        strategy: any StockStrategy,
        repository: OrderRepository,
        idempotency: IdempotencyStore,
        retention: Duration,
        logger: Logger,
        stockTaken: @escaping @Sendable ([UUID]) async -> Void = { _ in },
        orderPlaced: @escaping @Sendable (UUID, Order) async -> Void = { _, _ in }
    ) {
        self.stockTaken = stockTaken
        self.orderPlaced = orderPlaced
        self.strategy = strategy
        self.repository = repository
        self.idempotency = idempotency
        self.retention = retention
        self.logger = logger
    }

    /// Places an order once per `(user, idempotencyKey)`.
    ///
    /// - A first request runs; its outcome (201 with the order, or 409 `OUT_OF_STOCK`) is stored.
    /// - A repeat with the same lines replays that outcome (``Answer/replayed``).
    /// - A repeat with other lines fails with 422 `IDEMPOTENCY_KEY_REUSED`; one that arrives while the first is
    ///   still running fails with 409 `IDEMPOTENCY_KEY_IN_USE`.
    /// - Parameters:
    ///   - userID: The signed-in user.
    ///   - idempotencyKey: The client's key.
    ///   - lines: Validated, normalized lines.
    ///   - instance: The request path (for problem bodies).
    ///   - traceID: The request id (for problem bodies, and passed on with the order's event).
    ///   - traceparent: The request's W3C `traceparent`, if it sent one (passed on with the order's event).
    public func place(
        userID: UUID,
        idempotencyKey: String,
        lines: [StockLine],
        instance: String,
        traceID: String,
        traceparent: String? = nil
    ) async throws -> Answer {
        let requestHash = PlaceOrderRequest.hash(lines)
        let owner: String?
        switch await self.idempotency.claim(userID: userID, idempotencyKey: idempotencyKey, requestHash: requestHash) {
        case .replay(let outcome):
            return Answer(status: outcome.status, body: outcome.body, contentType: outcome.contentType, replayed: true)
        case .inProgress:
            throw APIError.idempotencyKeyInUse
        case .mismatch:
            throw APIError.idempotencyKeyReused
        case .run(let claimOwner):
            owner = claimOwner
        }

        let answer: Answer
        let placed: Order?
        do {
            (answer, placed) = try await self.execute(
                userID: userID,
                idempotencyKey: idempotencyKey,
                requestHash: requestHash,
                lines: lines,
                instance: instance,
                traceID: traceID,
                trace: Self.trace(requestID: traceID, traceparent: traceparent),
                retryExpired: true
            )
        } catch {
            // Not an outcome worth keeping (a bad product, a database failure): let the client retry.
            await self.idempotency.release(userID: userID, idempotencyKey: idempotencyKey, owner: owner)
            throw error
        }
        if let placed {
            await self.stockTaken(lines.map(\.productID))
            await self.orderPlaced(userID, placed)
        }
        await self.idempotency.settle(
            userID: userID,
            idempotencyKey: idempotencyKey,
            owner: owner,
            requestHash: requestHash,
            outcome: .init(status: answer.status, body: answer.body, contentType: answer.contentType)
        )
        return answer
    }

    private func execute(
        userID: UUID,
        idempotencyKey: String,
        requestHash: String,
        lines: [StockLine],
        instance: String,
        traceID: String,
        trace: [String: String],
        retryExpired: Bool
    ) async throws -> (answer: Answer, placed: Order?) {
        let receipt = IdempotencyReceipt(key: idempotencyKey, requestHash: requestHash)
        let repository = self.repository
        do {
            let placed = try await self.strategy.take(lines, logger: self.logger) { connection, products in
                try await repository.insert(
                    on: connection,
                    userID: userID,
                    lines: lines,
                    products: products,
                    receipt: receipt,
                    trace: trace,
                    encode: Self.encode
                )
            }
            return (
                Answer(status: 201, body: placed.body, contentType: "application/json", replayed: false), placed.order
            )
        } catch InventoryError.outOfStock(let ids) {
            let list = ids.map { $0.uuidString.lowercased() }.joined(separator: ", ")
            let error = APIError(
                status: .conflict,
                code: .outOfStock,
                detail: "Not enough stock for \(ids.count == 1 ? "product" : "products") \(list); nothing was ordered."
            )
            let answer = Answer(
                status: 409,
                body: ProblemDetails(error: error, instance: instance, traceID: traceID).json,
                contentType: "application/problem+json",
                replayed: false
            )
            return (answer, nil)
        } catch InventoryError.unknownProduct(let id) {
            throw APIError.validationFailed([
                FieldError(
                    field: "items",
                    code: .invalidFormat,
                    message: "no product has the id \(id.uuidString.lowercased())"
                )
            ])
        } catch InventoryError.lockLost {
            throw APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "The order could not be placed safely; nothing was ordered. Try again."
            )
        } catch InventoryError.busy {
            var error = APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "Too many orders for this product right now; nothing was ordered. Try again."
            )
            error.headers[.retryAfter] = "1"
            throw error
        } catch OrderError.totalTooLarge {
            throw APIError.validationFailed([
                FieldError(
                    field: "items",
                    code: .outOfRange,
                    message:
                        "the order's total must be at most \(Cents.format(Order.maxTotalCents)); nothing was ordered"
                )
            ])
        } catch OrderError.mixedCurrencies {
            throw APIError.validationFailed([
                FieldError(
                    field: "items",
                    code: .invalidFormat,
                    message: "all products of one order must share a currency"
                )
            ])
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // The database already has an order for this key: Redis lost its record. The transaction rolled
            // back, so nothing was taken twice; answer from the database's record.
            if let stored = try await self.repository.receipt(
                userID: userID,
                key: idempotencyKey,
                retention: self.retention
            ) {
                guard stored.requestHash == requestHash else { throw APIError.idempotencyKeyReused }
                return (Answer(status: 201, body: stored.body, contentType: "application/json", replayed: true), nil)
            }
            // The record is older than the retention: the key may be used again.
            guard retryExpired else { throw error }
            try await self.repository.forgetExpiredReceipt(
                userID: userID,
                key: idempotencyKey,
                retention: self.retention
            )
            return try await self.execute(
                userID: userID,
                idempotencyKey: idempotencyKey,
                requestHash: requestHash,
                lines: lines,
                instance: instance,
                traceID: traceID,
                trace: trace,
                retryExpired: false
            )
        }
    }

    /// The headers that carry the request's trace context to the order's event: the request id, and the incoming
    /// `traceparent` or, with a tracer bootstrapped, the context of the current span.
    static func trace(requestID: String, traceparent: String?) -> [String: String] {
        var headers = ["requestId": requestID]
        // `00-<32 hex>-<16 hex>-<2 hex>`; anything else is not passed on.
        if let traceparent, traceparent.utf8.count == 55,
            traceparent.allSatisfy({ $0.isHexDigit || $0 == "-" })
        {
            headers["traceparent"] = traceparent
        }
        // With a tracer, the current span's context (the request's, continuing that traceparent) replaces it.
        headers.merge(OutgoingMessage.traceHeaders()) { $1 }
        return headers
    }

    private static func encode(_ order: Order) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(Envelope(data: order)), as: UTF8.self)
    }
}

extension APIError {
    /// `409 IDEMPOTENCY_KEY_IN_USE`.
    static var idempotencyKeyInUse: APIError {
        var error = APIError(
            status: .conflict,
            code: .idempotencyKeyInUse,
            detail: "A request with this Idempotency-Key is still being processed; retry after it finishes."
        )
        error.headers[.retryAfter] = "1"
        return error
    }

    /// `422 IDEMPOTENCY_KEY_REUSED`.
    static var idempotencyKeyReused: APIError {
        APIError(
            status: .unprocessableContent,
            code: .idempotencyKeyReused,
            detail: "This Idempotency-Key was already used with a different request body."
        )
    }
}

extension ProblemDetails {
    /// The problem's JSON text.
    var json: String {
        (try? JSONCoding.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
