import HTTPTypes
public import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `POST /api/v1/orders`, `GET /api/v1/orders`, `GET /api/v1/orders/{id}`, for signed-in users.
public struct OrdersController: Sendable {
    let service: OrderService
    let repository: OrderRepository

    /// Creates the controller.
    public init(service: OrderService, repository: OrderRepository) {
        self.service = service
        self.repository = repository
    }

    /// The routes, to add under `/api/v1/orders`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireUser())
        routes.post(use: self.place)
        routes.get(use: self.list)
        routes.get(":id", use: self.show)
        return routes
    }

    @Sendable func place(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let key = try Self.idempotencyKey(request)
        let body = try await request.decodeJSON(as: PlaceOrderRequest.self, context: context)
        let lines = try body.lines()
        let answer = try await self.service.place(
            userID: user.id,
            idempotencyKey: key,
            lines: lines,
            instance: request.uri.path,
            traceID: context.requestID,
            traceparent: request.headers[HTTPField.Name("traceparent")!]
        )
        var headers: HTTPFields = [.contentType: answer.contentType]
        if answer.replayed { headers[.idempotentReplayed] = "true" }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: answer.body))
        )
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[Order], PageMeta> {
        let user = try context.requireUser()
        let pagination = try Pagination(request: request)
        let page = try await self.repository.list(userID: user.id, offset: pagination.offset, limit: pagination.size)
        return Envelope(
            data: page.orders,
            meta: PageMeta(page: pagination.page, size: pagination.size, totalItems: page.total)
        )
    }

    @Sendable func show(_ request: Request, context: ShopRequestContext) async throws -> Envelope<Order, EmptyMeta> {
        let user = try context.requireUser()
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else {
            throw APIError.invalidParameters([FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
        }
        // Another user's order is as absent as one that does not exist.
        guard let order = try await self.repository.find(userID: user.id, orderID: id) else {
            throw APIError.notFound("No order has the id \(id.uuidString.lowercased()).")
        }
        return Envelope(data: order)
    }

    /// The `Idempotency-Key` header: required, 1–255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws(APIError) -> String {
        guard let key = request.headers[.idempotencyKey] else {
            throw APIError(
                status: .badRequest,
                code: .badRequest,
                detail: "The Idempotency-Key header is required: send a unique value (for example a UUID) per order.",
                errors: [FieldError(field: "Idempotency-Key", code: .required, message: "is required")]
            )
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(
                status: .badRequest,
                code: .badRequest,
                detail: "The Idempotency-Key header must be 1-255 visible ASCII characters.",
                errors: [
                    FieldError(
                        field: "Idempotency-Key",
                        code: .invalidFormat,
                        message: "must be 1-255 visible ASCII characters"
                    )
                ]
            )
        }
        return key
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `Idempotent-Replayed`: present (`true`) on a response that replays the first request's outcome.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
