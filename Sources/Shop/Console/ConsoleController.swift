import HTTPTypes
public import Hummingbird
import NIOCore

/// The operations console (`/admin`): a page per concern, rendered in the browser by a small script of our own from
/// the JSON admin API, served entirely by the service (no CDN, no third-party assets, no build step).
///
/// The server decides who sees what: anonymous callers get the sign-in page, signed-in users without the `admin`
/// role a `403` page, admins the console; while the session store does not answer, a `503` page with `Retry-After`.
/// Actions (run a job, replay a dead letter) are the admin API's `POST`s, sent by the script from the same origin,
/// so the cross-site request guard and the session cookie's `SameSite=Lax` apply to them as to any API call.
/// Pages forbid framing and any script, style or connection not from this origin (`Content-Security-Policy`).
public struct ConsoleController: Sendable {
    /// The console's pages, in the navigation's order.
    static let pages: [(path: String, title: String)] = [
        ("dashboard", "Dashboard"), ("instances", "Instances"), ("jobs", "Jobs"), ("queues", "Queues"),
        ("caches", "Caches"), ("locks", "Locks"),
        ("sessions", "Sessions"),
    ]

    /// Creates the controller.
    public init() {}

    /// The routes, to add under `/admin`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.get { request, context in try Self.page(nil, request: request, context: context) }
        routes.get(":page") { request, context in
            try Self.page(context.parameters.get("page"), request: request, context: context)
        }
        routes.get("assets/console.js") { _, _ in Self.asset(ConsoleAssets.script, type: "text/javascript") }
        routes.get("assets/console.css") { _, _ in Self.asset(ConsoleAssets.style, type: "text/css") }
        return routes
    }

    /// The page for `/admin/<page>` (nil: `/admin`, the first page) as the caller may see it.
    static func page(_ page: String?, request: Request, context: ShopRequestContext) throws -> Response {
        let current = page ?? Self.pages[0].path
        guard Self.pages.contains(where: { $0.path == current }) else {
            return Self.html(ConsolePages.notFound(), status: .notFound)
        }
        do {
            _ = try context.requireUser(role: .admin)
        } catch {
            switch error.status {
            case .unauthorized:
                return Self.html(ConsolePages.signIn(), status: .ok)
            case .forbidden:
                return Self.html(ConsolePages.forbidden(email: context.user?.email ?? ""), status: .forbidden)
            default:
                var response = Self.html(ConsolePages.unavailable(), status: .serviceUnavailable)
                response.headers[.retryAfter] = "5"
                return response
            }
        }
        return Self.html(
            ConsolePages.console(page: current, email: context.user?.email ?? "", pages: Self.pages),
            status: .ok
        )
    }

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static func html(_ body: String, status: HTTPResponse.Status) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    static func asset(_ body: String, type: String) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "\(type); charset=utf-8"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
