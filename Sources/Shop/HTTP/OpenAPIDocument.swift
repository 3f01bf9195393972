import Foundation
import Hummingbird
import NIOCore

/// `GET /openapi.json`: the OpenAPI 3.1 document of every route (`Sources/Shop/HTTP/openapi.json`, a resource of
/// this target; `docs/api/openapi.json` links to it).
///
/// The document is written by hand, not generated: `OpenAPIDocumentTests` fail when a registered route is missing
/// from it or it names a route that does not exist, and every response the service tests receive is validated
/// against it (see `docs/architecture.md`).
enum OpenAPIDocument {
    /// The document's bytes, read once from the target's resource bundle (`redis-jobs_Shop.resources`, which
    /// SwiftPM puts beside the binary; ship it with the binary).
    static let bytes: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else {
            // A resource bundle without the file: the route says so.
            return []
        }
        return Array(data)
    }()

    /// Adds `GET /openapi.json` (anonymous).
    /// - Parameter router: Where to add it.
    static func addRoutes(to router: some RouterMethods<ShopRequestContext>) {
        router.get("openapi.json") { _, _ in
            let bytes = Self.bytes
            guard !bytes.isEmpty else {
                throw APIError(
                    status: .serviceUnavailable,
                    code: .serviceUnavailable,
                    detail: "The OpenAPI document is not part of this build."
                )
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .contentLength: String(bytes.count)],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }
}
