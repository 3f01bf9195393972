import HTTPTypes
import Hummingbird
import NIOCore

/// The RFC 9457 body of every error response (`docs/api/error-response.md`).
struct ProblemDetails: Codable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var instance: String
    var code: String
    var traceId: String
    var errors: [FieldError]?
    var checks: [DependencyStatus]?

    init(error: APIError, instance: String, traceID: String) {
        self.type = error.code.typeURI
        self.title = error.code.title
        self.status = Int(error.status.code)
        self.detail = error.detail
        self.instance = instance
        self.code = error.code.rawValue
        self.traceId = traceID
        self.errors = error.errors
        self.checks = error.checks
    }

    /// The problem as an `application/problem+json` response.
    func response(headers extra: HTTPFields) -> Response {
        let data: [UInt8]
        do {
            data = Array(try JSONCoding.encoder.encode(self))
        } catch {
            // Encoding plain strings and integers cannot fail; keep a valid body anyway.
            data = Array(#"{"code":"INTERNAL_ERROR","status":500}"#.utf8)
        }
        var headers: HTTPFields = [
            .contentType: "application/problem+json",
            .contentLength: String(data.count),
        ]
        headers.append(contentsOf: extra)
        return Response(
            status: HTTPResponse.Status(code: self.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension HTTPField.Name {
    /// `X-Request-Id`.
    static var xRequestID: Self { .init("X-Request-Id")! }
}
