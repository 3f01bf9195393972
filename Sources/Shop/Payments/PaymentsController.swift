import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `POST /api/v1/orders/{id}/pay`, `GET /api/v1/orders/{id}/payments` (the order's owner) and
/// `POST /api/v1/webhooks/payments` (the provider, signed).
struct PaymentsController: Sendable {
    let repository: PaymentRepository
    let client: PaymentsClient
    let queue: StreamQueue
    let signature: WebhookSignature
    let logger: Logger

    /// The routes, to add under `/api/v1/orders`.
    var orderRoutes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireUser())
        routes.post(":id/pay", use: self.pay)
        routes.get(":id/payments", use: self.list)
        return routes
    }

    /// The routes, to add under `/api/v1/webhooks`.
    var webhookRoutes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.post("payments", use: self.webhook)
        return routes
    }

    @Sendable func pay(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let order = try Self.orderID(context)
        let payment: Payment
        switch try await self.repository.start(user: user.id, order: order) {
        case .noOrder:
            throw APIError.notFound("No order has the id \(order.uuidString.lowercased()).")
        case .alreadyPaid:
            throw APIError(status: .conflict, code: .orderAlreadyPaid, detail: "This order is paid already.")
        case .notPayable(let status):
            throw APIError(status: .conflict, code: .conflict, detail: "An order that is \(status) cannot be paid.")
        case .payment(let open):
            payment = open
        }
        var current = payment
        if payment.providerPaymentId == nil {
            guard self.client.callbackURL != nil || Self.host(request) != nil else {
                throw APIError(
                    status: .serviceUnavailable,
                    code: .serviceUnavailable,
                    detail: "Payments need PAYMENTS_CALLBACK_URL when the service is not reached on loopback."
                )
            }
            // Our payment id is the idempotency key: a retry (ours or the client's) never charges twice.
            do {
                let providerID = try await self.client.create(
                    key: payment.id.uuidString.lowercased(),
                    orderID: order,
                    amount: payment.amount,
                    currency: payment.currency,
                    host: Self.host(request) ?? "127.0.0.1"
                )
                current = try await self.repository.setProviderID(providerID, of: payment.id) ?? payment
            } catch {
                self.logger.warning("payment provider call failed", metadata: ["error": "\(error)"])
                var problem = APIError(
                    status: .serviceUnavailable,
                    code: .providerUnavailable,
                    detail: "The payment provider is unavailable; nothing was charged twice. Try again."
                )
                problem.headers[.retryAfter] = "5"
                throw problem
            }
        }
        return try context.responseEncoder.encode(Envelope(data: current), from: request, context: context)
            .withStatus(.accepted)
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[Payment], EmptyMeta>
    {
        let user = try context.requireUser()
        let order = try Self.orderID(context)
        return Envelope(data: try await self.repository.payments(user: user.id, order: order))
    }

    /// Verifies the signature, queues the event and answers `202` at once: no business logic here.
    @Sendable func webhook(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let bytes = Array(buffer: body)
        do {
            try self.signature.verify(request.headers[.signature], body: bytes)
        } catch {
            throw APIError(status: .unauthorized, code: .invalidSignature, detail: "Webhook refused: \(error).")
        }
        let event: PaymentWebhookEvent
        do {
            event = try JSONCoding.decoder.decode(PaymentWebhookEvent.self, from: Data(bytes))
        } catch {
            throw APIError.malformedJSON("The event is not a payment event: \(Self.shortReason(error)).")
        }
        var validator = Validator()
        validator.require(
            !event.id.isEmpty && event.id.utf8.count <= 200,
            field: "id",
            code: .invalidFormat,
            message: "must be 1-200 characters"
        )
        validator.require(
            !event.type.isEmpty && event.type.utf8.count <= 100,
            field: "type",
            code: .invalidFormat,
            message: "must be 1-100 characters"
        )
        validator.require(
            !event.data.paymentId.isEmpty && event.data.paymentId.utf8.count <= 200,
            field: "data.paymentId",
            code: .invalidFormat,
            message: "must be 1-200 characters"
        )
        try validator.throwIfInvalid()
        let receipt: PublishReceipt
        do {
            receipt = try await self.queue.publish(
                OutgoingMessage(
                    id: event.id,
                    type: event.type,
                    payload: ByteBuffer(bytes: bytes),
                    headers: OrderService.trace(
                        requestID: context.requestID,
                        traceparent: request.headers[HTTPField.Name("traceparent")!]
                    ),
                    key: event.data.orderId ?? event.data.paymentId
                ),
                to: "payments",
                deduplicationWindow: .seconds(86_400)
            )
        } catch {
            // Not accepted: the provider retries the delivery.
            throw APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "The event could not be queued; deliver it again later."
            )
        }
        return try context.responseEncoder.encode(
            Envelope(data: WebhookAccepted(eventId: event.id, duplicate: receipt.isDuplicate)),
            from: request,
            context: context
        ).withStatus(.accepted)
    }

    static func orderID(_ context: ShopRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else {
            throw APIError.invalidParameters([FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
        }
        return id
    }

    /// The request's `Host` when it names this machine (`127.0.0.1`, `localhost`, `[::1]`, any port); nil
    /// otherwise. Without `PAYMENTS_CALLBACK_URL`, webhooks go back to that host — never to a host a client
    /// chose.
    static func host(_ request: Request) -> String? {
        let authority = (request.head.authority ?? "").lowercased()
        guard authority.utf8.count <= 64, authority.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) })
        else { return nil }
        let host: Substring
        if authority.hasPrefix("[") {
            host = authority.prefix { $0 != "]" }.dropFirst()
        } else {
            host = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
        return ["127.0.0.1", "localhost", "::1"].contains(String(host)) ? authority : nil
    }

    static func shortReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "\(key.stringValue) is missing"
        case DecodingError.typeMismatch, DecodingError.valueNotFound: "a member has the wrong type"
        default: "not JSON"
        }
    }
}

/// The answer to a webhook.
struct WebhookAccepted: Codable, Sendable, Equatable {
    var eventId: String
    /// True when the same event was queued before (a redelivery): it still has one effect.
    var duplicate: Bool
}

extension HTTPField.Name {
    /// `X-Signature`.
    static let signature = HTTPField.Name("X-Signature")!
}
