public import Hummingbird

/// An error that answers with a specific status and `code` of the error template.
///
/// Throw it from any handler; ``ProblemMiddleware`` turns it into `application/problem+json`.
public struct APIError: Error, Sendable {
    /// The response status.
    public var status: HTTPResponse.Status
    /// The stable code.
    public var code: ErrorCode
    /// The human-readable `detail` (shown to the client: no internals).
    public var detail: String
    /// Offending fields, for `VALIDATION_FAILED` and `INVALID_PARAMETER`.
    public var errors: [FieldError]?
    /// Dependency states, for `DEPENDENCY_UNAVAILABLE`.
    public var checks: [DependencyStatus]?
    /// Extra response headers (`Allow` for 405).
    public var headers: HTTPFields

    /// Creates an error.
    /// - Parameters:
    ///   - status: The response status.
    ///   - code: The stable code.
    ///   - detail: A client-safe explanation.
    ///   - errors: Offending fields, if any.
    ///   - headers: Extra headers.
    public init(
        status: HTTPResponse.Status,
        code: ErrorCode,
        detail: String,
        errors: [FieldError]? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.checks = nil
        self.headers = headers
    }

    /// `404 NOT_FOUND`.
    public static func notFound(_ detail: String) -> APIError {
        APIError(status: .notFound, code: .notFound, detail: detail)
    }

    /// `400 INVALID_PARAMETER` naming the parameters.
    public static func invalidParameters(_ errors: [FieldError]) -> APIError {
        APIError(
            status: .badRequest,
            code: .invalidParameter,
            detail: errors.count == 1
                ? "The parameter \(errors[0].field) is invalid."
                : "The request has \(errors.count) invalid parameters.",
            errors: errors
        )
    }

    /// `422 VALIDATION_FAILED` listing the fields.
    public static func validationFailed(_ errors: [FieldError]) -> APIError {
        APIError(
            status: .unprocessableContent,
            code: .validationFailed,
            detail: errors.count == 1
                ? "The request body has 1 invalid field." : "The request body has \(errors.count) invalid fields.",
            errors: errors
        )
    }

    /// `400 MALFORMED_JSON`.
    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(status: .badRequest, code: .malformedJSON, detail: detail)
    }

    /// `413 PAYLOAD_TOO_LARGE`.
    public static var payloadTooLarge: APIError {
        APIError(
            status: .contentTooLarge,
            code: .payloadTooLarge,
            detail: "The request body is larger than \(HTTPLimits.maxBodySize) bytes."
        )
    }

    /// `415 UNSUPPORTED_MEDIA_TYPE`.
    public static func unsupportedMediaType(_ got: String?) -> APIError {
        let detail =
            if let got {
                "Expected Content-Type application/json, got \(got.prefix(100))."
            } else {
                "Expected Content-Type application/json, got none."
            }
        return APIError(status: .unsupportedMediaType, code: .unsupportedMediaType, detail: detail)
    }

    /// `503 DEPENDENCY_UNAVAILABLE` with the state of each dependency.
    public static func dependencyUnavailable(_ checks: [DependencyStatus]) -> APIError {
        let down = checks.filter { $0.status == .down }.map(\.name)
        var error = APIError(
            status: .serviceUnavailable,
            code: .dependencyUnavailable,
            detail: "Not ready: \(down.joined(separator: ", ")) \(down.count == 1 ? "is" : "are") unavailable."
        )
        error.checks = checks
        return error
    }
}

extension APIError: HTTPResponseError {
    /// The error as the template, for code that renders it outside ``ProblemMiddleware``.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let traceID = (context as? ShopRequestContext)?.requestID ?? ""
        return ProblemDetails(error: self, instance: request.uri.path, traceID: traceID).response(headers: self.headers)
    }
}
