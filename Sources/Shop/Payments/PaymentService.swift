import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The payments module's operations behind its routes: paying an order at the provider, and accepting the
/// provider's signed webhooks into the inbox. Controllers only translate HTTP; the consumer of accepted events is
/// ``PaymentEventProcessor``.
struct PaymentService: Sendable {
    let repository: PaymentRepository
    let client: PaymentsClient
    let signature: WebhookSignature
    /// Called after an accepted event committed (publishes the outbox now rather than at the relay's next pass).
    let eventAccepted: @Sendable () -> Void
    let logger: Logger

    /// Why paying did not start.
    enum PayError: Error, Equatable {
        /// No order of this user has the id.
        case noOrder
        /// The order is paid already.
        case alreadyPaid
        /// The order cannot be paid in its status.
        case notPayable(status: String)
        /// The callback URL cannot be derived (the service is not reached on loopback and none is configured).
        case noCallbackURL
        /// The provider could not be reached or refused; nothing was charged twice.
        case providerUnavailable
    }

    /// Starts (or resumes) the order's payment at the provider. Our payment id is the provider's idempotency key,
    /// so repeating this — after any failure, on any instance — never charges twice.
    /// - Parameters:
    ///   - user: The order's owner.
    ///   - order: The order.
    ///   - callback: This instance's own webhook URL when the request reached it on loopback (used when
    ///     `PAYMENTS_CALLBACK_URL` is not set), else nil.
    /// - Returns: The payment (with the provider's id once the provider answered).
    func pay(user: UUID, order: UUID, callback: String?) async throws -> Payment {
        let payment: Payment
        switch try await self.repository.start(user: user, order: order) {
        case .noOrder: throw PayError.noOrder
        case .alreadyPaid: throw PayError.alreadyPaid
        case .notPayable(let status): throw PayError.notPayable(status: status)
        case .payment(let open): payment = open
        }
        guard payment.providerPaymentId == nil else { return payment }
        guard let callback = self.client.callbackURL ?? callback else { throw PayError.noCallbackURL }
        let providerID: String
        do {
            providerID = try await self.client.create(
                key: payment.id.uuidString.lowercased(),
                orderID: order,
                amount: payment.amount,
                currency: payment.currency,
                callback: callback
            )
        } catch {
            self.logger.warning("payment provider call failed", metadata: ["error": "\(error)"])
            throw PayError.providerUnavailable
        }
        // If this never commits (a crash now), the provider's webhooks still find the payment: they carry our id.
        return try await self.repository.setProviderID(providerID, of: payment.id) ?? payment
    }

    /// Why a webhook was refused.
    enum WebhookError: Error {
        /// The signature is missing, wrong or too old.
        case invalidSignature(String)
        /// The body is not a payment event.
        case malformed(String)
        /// A member is out of bounds.
        case invalid([FieldError])
    }

    /// Verifies a webhook and writes it to the inbox (queued for ``PaymentEventProcessor``) before it is
    /// acknowledged: once this returns, the event cannot be lost. A redelivered event id has one effect.
    /// - Parameters:
    ///   - body: The raw body (the signature covers these bytes).
    ///   - signatureHeader: `X-Signature`.
    ///   - trace: The request's trace headers, carried to the consumer.
    /// - Returns: What to answer.
    func accept(body: [UInt8], signatureHeader: String?, trace: [String: String]) async throws -> WebhookAccepted {
        do {
            try self.signature.verify(signatureHeader, body: body)
        } catch {
            throw WebhookError.invalidSignature("\(error)")
        }
        let event: PaymentWebhookEvent
        do {
            event = try JSONCoding.decoder.decode(PaymentWebhookEvent.self, from: Data(body))
        } catch {
            throw WebhookError.malformed(Self.shortReason(error))
        }
        let problems = Self.problems(event)
        guard problems.isEmpty else { throw WebhookError.invalid(problems) }
        let fresh = try await self.repository.accept(
            event,
            payload: String(decoding: body, as: UTF8.self),
            headers: trace
        )
        if fresh { self.eventAccepted() }
        return WebhookAccepted(eventId: event.id, duplicate: !fresh)
    }

    /// The members of an event that the inbox cannot store.
    static func problems(_ event: PaymentWebhookEvent) -> [FieldError] {
        var validator = Validator()
        validator.require(
            Self.isStorable(event.id),
            field: "id",
            code: .invalidFormat,
            message: "must be 1-200 characters"
        )
        validator.require(
            Self.isStorable(event.type, limit: 100),
            field: "type",
            code: .invalidFormat,
            message: "must be 1-100 characters"
        )
        validator.require(
            Self.isStorable(event.data.paymentId),
            field: "data.paymentId",
            code: .invalidFormat,
            message: "must be 1-200 characters"
        )
        for (field, value) in [("data.reference", event.data.reference), ("data.orderId", event.data.orderId)] {
            guard let value else { continue }
            validator.require(
                Self.isStorable(value),
                field: field,
                code: .invalidFormat,
                message: "must be 1-200 characters"
            )
        }
        return validator.errors
    }

    /// 1–`limit` characters (as PostgreSQL counts them), none of them NUL (which PostgreSQL text cannot hold).
    static func isStorable(_ value: String, limit: Int = 200) -> Bool {
        let count = value.unicodeScalars.count
        return count >= 1 && count <= limit && !value.unicodeScalars.contains("\u{0}")
    }

    static func shortReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "\(key.stringValue) is missing"
        case DecodingError.typeMismatch, DecodingError.valueNotFound: "a member has the wrong type"
        default: "not JSON"
        }
    }
}
