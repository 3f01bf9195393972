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
/// `POST /api/v1/webhooks/payments` (the provider, signed): HTTP in and out, the work in ``PaymentService``.
struct PaymentsController: Sendable {
    let service: PaymentService
    let repository: PaymentRepository
    /// This instance's own address, for the default callback URL.
    let listening: ListeningAddress

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
        do {
            payment = try await self.service.pay(user: user.id, order: order, callback: self.callback(request))
        } catch let error as PaymentService.PayError {
            throw Self.apiError(error, order: order)
        }
        return try context.responseEncoder.encode(Envelope(data: payment), from: request, context: context)
            .withStatus(.accepted)
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[Payment], EmptyMeta>
    {
        let user = try context.requireUser()
        let order = try Self.orderID(context)
        return Envelope(data: try await self.repository.payments(user: user.id, order: order))
    }

    /// Verifies the signature, stores the event in the inbox and answers `202`: no business logic here. While the
    /// database is down it answers `503` (the provider delivers again later): an acknowledged event is never lost.
    @Sendable func webhook(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let accepted: WebhookAccepted
        do {
            accepted = try await self.service.accept(
                body: Array(buffer: body),
                signatureHeader: request.headers[.signature],
                trace: OrderService.trace(
                    requestID: context.requestID,
                    traceparent: request.headers[HTTPField.Name("traceparent")!]
                )
            )
        } catch let error as PaymentService.WebhookError {
            switch error {
            case .invalidSignature(let reason):
                throw APIError(status: .unauthorized, code: .invalidSignature, detail: "Webhook refused: \(reason).")
            case .malformed(let reason):
                throw APIError.malformedJSON("The event is not a payment event: \(reason).")
            case .invalid(let problems):
                throw APIError.validationFailed(problems)
            }
        }
        return try context.responseEncoder.encode(Envelope(data: accepted), from: request, context: context)
            .withStatus(.accepted)
    }

    static func apiError(_ error: PaymentService.PayError, order: UUID) -> APIError {
        switch error {
        case .noOrder:
            return APIError.notFound("No order has the id \(order.uuidString.lowercased()).")
        case .alreadyPaid:
            return APIError(status: .conflict, code: .orderAlreadyPaid, detail: "This order is paid already.")
        case .notPayable(let status):
            return APIError(status: .conflict, code: .conflict, detail: "An order that is \(status) cannot be paid.")
        case .noCallbackURL:
            return APIError(
                status: .serviceUnavailable,
                code: .serviceUnavailable,
                detail: "Payments need PAYMENTS_CALLBACK_URL when the service is not reached on loopback."
            )
        case .providerUnavailable:
            var problem = APIError(
                status: .serviceUnavailable,
                code: .providerUnavailable,
                detail: "The payment provider is unavailable; nothing was charged twice. Try again."
            )
            problem.headers[.retryAfter] = "5"
            return problem
        }
    }

    static func orderID(_ context: ShopRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else {
            throw APIError.invalidParameters([FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
        }
        return id
    }

    /// This instance's own webhook URL, `http://<loopback host>:<HTTP port>/api/v1/webhooks/payments`, when the
    /// request reached it on loopback; nil otherwise (then payments need `PAYMENTS_CALLBACK_URL`). Only the host
    /// part of the request's `Host` is looked at, to tell "reached on loopback": the port is always the service's
    /// own, so a caller cannot make the provider post to another port of this machine (`Host: 127.0.0.1:6379`).
    func callback(_ request: Request) -> String? {
        guard Self.isLoopback(authority: request.head.authority), let base = self.listening.loopbackURL else {
            return nil
        }
        return base + "/api/v1/webhooks/payments"
    }

    /// Whether a `Host` value names this machine (`127.0.0.1`, `localhost`, `[::1]`, with or without a port).
    static func isLoopback(authority: String?) -> Bool {
        let authority = (authority ?? "").lowercased()
        guard authority.utf8.count <= 64, authority.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) })
        else { return false }
        let host: Substring
        if authority.hasPrefix("[") {
            host = authority.prefix { $0 != "]" }.dropFirst()
        } else {
            host = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
        return ["127.0.0.1", "localhost", "::1"].contains(String(host))
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
