public import Hummingbird
import Synchronization

/// The routes the application registered, to tell `404 Not Found` from `405 Method Not Allowed`.
///
/// Hummingbird's router answers a known path with an unknown method like an unknown path; the
/// ``ProblemMiddleware`` asks this registry which methods the path has.
public final class RouteRegistry: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    init() {}

    func add(_ path: RouterPath, method: HTTPRequest.Method) {
        self.routes.withLock { routes in
            routes.append((path, method))
            // The router answers HEAD for every GET (`autoGenerateHeadEndpoints`).
            if method == .get { routes.append((path, .head)) }
        }
    }

    /// Every route registered, in registration order, as `(path, method)` with the path in OpenAPI form
    /// (`/api/v1/products/{id}`); the `HEAD` routes generated for each `GET` are left out. The OpenAPI
    /// document's tests compare it with `docs/api/openapi.json`.
    var registeredRoutes: [(path: String, method: String)] {
        self.routes.withLock { routes in
            var seen = Set<String>()
            var result: [(path: String, method: String)] = []
            for (index, route) in routes.enumerated() {
                // A HEAD right after the GET of the same path is the generated one.
                if route.method == .head, index > 0, routes[index - 1].method == .get,
                    routes[index - 1].path.description == route.path.description
                {
                    continue
                }
                let path = route.path.description
                if seen.insert("\(route.method.rawValue) \(path)").inserted {
                    result.append((path, route.method.rawValue))
                }
            }
            return result
        }
    }

    /// The methods registered for paths that match `path`, sorted, without duplicates.
    func allowedMethods(for path: String) -> [String] {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        let methods = self.routes.withLock { routes in
            routes.filter { Self.matches($0.path, components) }.map(\.method.rawValue)
        }
        return Array(Set(methods)).sorted()
    }

    private static func matches(_ route: RouterPath, _ components: [Substring]) -> Bool {
        var index = 0
        for element in route.components {
            if element == .recursiveWildcard { return true }
            guard index < components.count, element ~= components[index] else { return false }
            index += 1
        }
        return index == components.count
    }
}

/// A router that records every route it registers in a ``RouteRegistry``.
public final class RegisteringRouter<Context: RequestContext>: RouterMethods {
    let router: Router<Context>
    let registry: RouteRegistry

    init(router: Router<Context>, registry: RouteRegistry) {
        self.router = router
        self.registry = registry
    }

    @discardableResult public func on<Responder: HTTPResponder>(
        _ path: RouterPath,
        method: HTTPRequest.Method,
        responder: Responder
    ) -> Self where Responder.Context == Context {
        self.registry.add(path, method: method)
        self.router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        self.router.add(middleware: middleware)
        return self
    }
}
