import HTTPTypes
public import Hummingbird
import Logging
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The outermost middleware: gives every request an id, refuses oversized bodies early, and turns every
/// error thrown below it into the error template (`application/problem+json`).
///
/// Every response that leaves it, success or error, carries `X-Request-Id`.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = ShopRequestContext

    let registry: RouteRegistry

    init(registry: RouteRegistry) {
        self.registry = registry
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = RequestIdentifier.accept(request.headers[.xRequestID]) ?? RequestIdentifier.generate()
        context.requestID = requestID
        context.logger[metadataKey: "request.id"] = .string(requestID)

        var response: Response
        do {
            if let length = request.headers[.contentLength], let bytes = Int(length), bytes > HTTPLimits.maxBodySize {
                throw APIError.payloadTooLarge
            }
            response = try await next(request, context)
        } catch {
            let apiError = self.apiError(for: error, request: request, context: context)
            var headers = apiError.headers
            if apiError.status == .contentTooLarge {
                // The rest of the body is not read; do not keep the connection for another request.
                headers[.connection] = "close"
            }
            if apiError.status == .serviceUnavailable && headers[.retryAfter] == nil {
                // Every 503 says when to come back: a dependency is down, and clients should not hammer it.
                headers[.retryAfter] = "2"
            }
            response = ProblemDetails(error: apiError, instance: request.uri.path, traceID: requestID)
                .response(headers: headers)
        }
        response.headers[.xRequestID] = requestID
        return response
    }

    /// Maps any error to the template, logging the ones that are the service's fault.
    func apiError(for error: any Error, request: Request, context: Context) -> APIError {
        switch error {
        case let error as APIError:
            if error.status.kind == .serverError {
                // A deliberate 5xx (a dependency is down); unexpected errors are logged at `error` below.
                context.logger.warning(
                    "request failed",
                    metadata: ["error.code": "\(error.code)", "detail": "\(error.detail)"]
                )
            }
            return error
        case let error as HTTPError where error.status == .notFound && context.endpointPath == "NotFound":
            return self.routeNotFound(request: request)
        case let error as HTTPError:
            return self.fromStatus(
                error.status,
                message: error.body,
                headers: error.headers,
                error: error,
                context: context
            )
        case is NIOTooManyBytesError:
            return .payloadTooLarge
        case let error as DecodingError:
            return RequestDecoding.apiError(for: error)
        case let error as any HTTPResponseError:
            return self.fromStatus(error.status, message: nil, headers: [:], error: error, context: context)
        default:
            guard let unavailable = DependencyFailure.apiError(for: error) else {
                return self.internalError(error, context: context)
            }
            context.logger.warning(
                "dependency unavailable",
                metadata: [
                    "dependency": "\(DependencyFailure.dependency(of: error))", "error": "\(String(reflecting: error))",
                ]
            )
            return unavailable
        }
    }

    private func routeNotFound(request: Request) -> APIError {
        let path = request.uri.path
        let allowed = self.registry.allowedMethods(for: path)
        guard !allowed.isEmpty else {
            return .notFound("No route matches \(request.method.rawValue) \(Self.shortened(path)).")
        }
        return APIError(
            status: .methodNotAllowed,
            code: .methodNotAllowed,
            detail:
                "\(request.method.rawValue) is not allowed on \(Self.shortened(path)); allowed: \(allowed.joined(separator: ", ")).",
            headers: [.allow: allowed.joined(separator: ", ")]
        )
    }

    private func fromStatus(
        _ status: HTTPResponse.Status,
        message: String?,
        headers: HTTPFields,
        error: any Error,
        context: Context
    ) -> APIError {
        guard status.kind == .clientError else {
            if status == .serviceUnavailable {
                return APIError(
                    status: status,
                    code: .serviceUnavailable,
                    detail: "The service cannot answer right now.",
                    headers: headers
                )
            }
            return self.internalError(error, context: context)
        }
        let code = ErrorCode.forStatus(status)
        let detail = message.map { String($0.prefix(500)) } ?? "\(status.reasonPhrase)."
        return APIError(status: status, code: code, detail: detail, headers: headers)
    }

    private func internalError(_ error: any Error, context: Context) -> APIError {
        context.logger.error(
            "unexpected error",
            metadata: ["error.type": "\(type(of: error))", "error": "\(String(reflecting: error))"]
        )
        return APIError(
            status: .internalServerError,
            code: .internalError,
            detail: "An unexpected error occurred. Quote the traceId when reporting it."
        )
    }

    /// The path as shown in a `detail`: cut to a readable length.
    static func shortened(_ path: String) -> String {
        path.count > 200 ? String(path.prefix(200)) + "…" : path
    }
}

/// Request ids: accepted from the client when sane, generated otherwise.
enum RequestIdentifier {
    /// `value` when it is 1–128 characters of `A-Z a-z 0-9 . _ : -`, otherwise nil.
    static func accept(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128 else { return nil }
        let sane = value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                UInt8(ascii: "-"):
                true
            default: false
            }
        }
        return sane ? value : nil
    }

    /// A new random id (a lowercase UUID).
    static func generate() -> String {
        UUID().uuidString.lowercased()
    }
}
