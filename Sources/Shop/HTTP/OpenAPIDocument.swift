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
    /// The resource bundle SwiftPM builds beside the binary.
    static let bundleName = "redis-jobs_Shop.resources"

    /// The document's bytes, read once: from the resource bundle beside the running executable (where SwiftPM puts
    /// it, and where a deployment should ship it), else from the source tree the binary was built from. Never
    /// `Bundle.module`, whose accessor ends the process when the bundle is missing: a binary copied without it
    /// answers `503` on this route and serves everything else.
    static let bytes: [UInt8] = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(
                executable.deletingLastPathComponent().appendingPathComponent(Self.bundleName)
                    .appendingPathComponent("openapi.json")
            )
        }
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("openapi.json")
        )
        for url in candidates {
            if let data = try? Data(contentsOf: url), !data.isEmpty { return Array(data) }
        }
        return []
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
