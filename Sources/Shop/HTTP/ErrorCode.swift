import Hummingbird

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The stable, documented `code` of an error response (`docs/api/error-response.md`).
public struct ErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The UPPER_SNAKE code.
    public let rawValue: String
    /// The fixed `title` that goes with it.
    public let title: String

    init(_ rawValue: String, _ title: String) {
        self.rawValue = rawValue
        self.title = title
    }

    public var description: String { self.rawValue }

    /// `urn:redis-jobs:problem:<code in kebab-case>`.
    public var typeURI: String {
        "urn:redis-jobs:problem:" + self.rawValue.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    public static let badRequest = ErrorCode("BAD_REQUEST", "Bad Request")
    public static let malformedJSON = ErrorCode("MALFORMED_JSON", "Malformed JSON")
    public static let invalidParameter = ErrorCode("INVALID_PARAMETER", "Invalid Parameter")
    public static let unauthorized = ErrorCode("UNAUTHORIZED", "Unauthorized")
    public static let forbidden = ErrorCode("FORBIDDEN", "Forbidden")
    /// Sign-in with an unknown e-mail address or a wrong password (one answer for both).
    public static let invalidCredentials = ErrorCode("INVALID_CREDENTIALS", "Invalid Credentials")
    /// A state-changing request a browser sent from another site (CSRF protection).
    public static let crossSiteRequest = ErrorCode("CROSS_SITE_REQUEST", "Cross-Site Request")
    public static let notFound = ErrorCode("NOT_FOUND", "Not Found")
    public static let methodNotAllowed = ErrorCode("METHOD_NOT_ALLOWED", "Method Not Allowed")
    public static let requestTimeout = ErrorCode("REQUEST_TIMEOUT", "Request Timeout")
    public static let conflict = ErrorCode("CONFLICT", "Conflict")
    public static let outOfStock = ErrorCode("OUT_OF_STOCK", "Out of Stock")
    public static let idempotencyKeyInUse = ErrorCode("IDEMPOTENCY_KEY_IN_USE", "Idempotency Key In Use")
    /// A payment webhook whose signature or timestamp does not check out.
    public static let invalidSignature = ErrorCode("INVALID_SIGNATURE", "Invalid Signature")
    /// `POST /api/v1/orders/{id}/pay` for an order that is paid already.
    public static let orderAlreadyPaid = ErrorCode("ORDER_ALREADY_PAID", "Order Already Paid")
    /// A manual run of a scheduled job while it runs (on any instance).
    public static let jobAlreadyRunning = ErrorCode("JOB_ALREADY_RUNNING", "Job Already Running")
    public static let payloadTooLarge = ErrorCode("PAYLOAD_TOO_LARGE", "Payload Too Large")
    public static let unsupportedMediaType = ErrorCode("UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type")
    public static let validationFailed = ErrorCode("VALIDATION_FAILED", "Validation Failed")
    public static let idempotencyKeyReused = ErrorCode("IDEMPOTENCY_KEY_REUSED", "Idempotency Key Reused")
    public static let tooManyRequests = ErrorCode("TOO_MANY_REQUESTS", "Too Many Requests")
    public static let internalError = ErrorCode("INTERNAL_ERROR", "Internal Server Error")
    public static let dependencyUnavailable = ErrorCode("DEPENDENCY_UNAVAILABLE", "Dependency Unavailable")
    public static let serviceUnavailable = ErrorCode("SERVICE_UNAVAILABLE", "Service Unavailable")
    /// An external provider (exchange rates, payments) cannot be reached and there is no fallback.
    public static let providerUnavailable = ErrorCode("PROVIDER_UNAVAILABLE", "Provider Unavailable")

    /// Every code with a fixed title, in the order `docs/api/error-response.md` lists them.
    public static let all: [ErrorCode] = [
        .badRequest, .malformedJSON, .invalidParameter, .unauthorized, .invalidCredentials, .invalidSignature,
        .forbidden,
        .crossSiteRequest, .notFound, .methodNotAllowed,
        .requestTimeout, .conflict, .outOfStock, .idempotencyKeyInUse, .orderAlreadyPaid, .jobAlreadyRunning,
        .payloadTooLarge,
        .unsupportedMediaType,
        .validationFailed, .idempotencyKeyReused, .tooManyRequests,
        .internalError, .dependencyUnavailable, .serviceUnavailable, .providerUnavailable,
    ]

    /// Any other 4xx status: `HTTP_ERROR` titled with the reason phrase.
    static func httpError(_ status: HTTPResponse.Status) -> ErrorCode {
        ErrorCode("HTTP_ERROR", status.reasonPhrase)
    }

    /// The code that a bare status maps to when nothing more specific is known.
    static func forStatus(_ status: HTTPResponse.Status) -> ErrorCode {
        switch status.code {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 405: .methodNotAllowed
        case 408: .requestTimeout
        case 409: .conflict
        case 413: .payloadTooLarge
        case 415: .unsupportedMediaType
        case 422: .validationFailed
        case 429: .tooManyRequests
        case 503: .serviceUnavailable
        case 400..<500: .httpError(status)
        default: .internalError
        }
    }
}

/// One offending field of a `VALIDATION_FAILED` or `INVALID_PARAMETER` error.
public struct FieldError: Codable, Sendable, Equatable {
    /// Where: a dotted body path (`items[0].quantity`) or a parameter name (`page`).
    public var field: String
    /// `REQUIRED`, `INVALID_TYPE`, `INVALID_FORMAT`, `OUT_OF_RANGE`, `TOO_SHORT` or `TOO_LONG`.
    public var code: String
    /// A readable explanation.
    public var message: String

    /// Creates a field error.
    /// - Parameters:
    ///   - field: The field or parameter.
    ///   - code: One of the field codes.
    ///   - message: A readable explanation.
    public init(field: String, code: Code, message: String) {
        self.field = field
        self.code = code.rawValue
        self.message = message
    }

    /// The field codes.
    public enum Code: String, Sendable {
        case required = "REQUIRED"
        case invalidType = "INVALID_TYPE"
        case invalidFormat = "INVALID_FORMAT"
        case outOfRange = "OUT_OF_RANGE"
        case tooShort = "TOO_SHORT"
        case tooLong = "TOO_LONG"
    }
}
