import HTTPTypes
public import Hummingbird
import RedisClient
public import RedisSessions

extension ShopRequestContext: SessionRequestContext, RemoteAddressRequestContext {
    /// Sessions hold the signed-in user.
    public typealias SessionValue = AuthenticatedUser

    /// The signed-in user, or nil for an anonymous request.
    public var user: AuthenticatedUser? {
        self.sessions.current?.value
    }

    /// The signed-in user, who must have `role` (when given).
    ///
    /// - Parameter role: The role the route needs; nil for any signed-in user. `admin` includes `user`.
    /// - Returns: The user.
    /// - Throws: `401 UNAUTHORIZED` without a session, `403 FORBIDDEN` with the wrong role, and
    ///   `503 DEPENDENCY_UNAVAILABLE` when the session could not be looked up (Redis down).
    public func requireUser(role: Role? = nil) throws(APIError) -> AuthenticatedUser {
        guard let user = self.user else {
            if self.sessions.lookupError != nil { throw APIError.sessionStoreUnavailable }
            var error = APIError(
                status: .unauthorized,
                code: .unauthorized,
                detail: "Sign in first: this endpoint needs a session."
            )
            // The request's cookie names no live session: tell the client to drop it.
            if let clearing = self.sessions.clearingSetCookie { error.headers[.setCookie] = clearing }
            throw error
        }
        if let role, !user.role.includes(role) {
            throw APIError(status: .forbidden, code: .forbidden, detail: "This endpoint needs the \(role) role.")
        }
        return user
    }
}

extension APIError {
    /// `503 DEPENDENCY_UNAVAILABLE` naming Redis, for when sessions cannot be read or written.
    static var sessionStoreUnavailable: APIError {
        var error = APIError(
            status: .serviceUnavailable,
            code: .dependencyUnavailable,
            detail: "Sessions are unavailable: redis did not answer. Try again shortly."
        )
        error.checks = [DependencyStatus(name: "redis", status: .down, detail: "session store unavailable")]
        return error
    }
}

/// Lets only signed-in users through (`401 UNAUTHORIZED` otherwise).
///
/// ```swift
/// let routes = RouteCollection(context: ShopRequestContext.self)
/// routes.add(middleware: RequireUser())      // every route added after this needs a session
/// ```
public struct RequireUser: RouterMiddleware {
    /// The service's request context.
    public typealias Context = ShopRequestContext

    /// Creates the middleware.
    public init() {}

    /// Refuses the request unless it has a session, then calls the next responder.
    public func handle(
        _ request: Request,
        context: ShopRequestContext,
        next: (Request, ShopRequestContext) async throws -> Response
    ) async throws -> Response {
        _ = try context.requireUser()
        return try await next(request, context)
    }
}

/// Lets only users with a role through: `401 UNAUTHORIZED` for anonymous callers, `403 FORBIDDEN` for users
/// without the role (`admin` includes `user`).
///
/// ```swift
/// routes.group("admin").add(middleware: RequireRole(.admin)).get("jobs", use: listJobs)
/// ```
public struct RequireRole: RouterMiddleware {
    /// The service's request context.
    public typealias Context = ShopRequestContext
    /// The role the routes need.
    public let role: Role

    /// Creates the middleware.
    /// - Parameter role: The role the routes need.
    public init(_ role: Role) {
        self.role = role
    }

    /// Refuses the request unless its user has the role, then calls the next responder.
    public func handle(
        _ request: Request,
        context: ShopRequestContext,
        next: (Request, ShopRequestContext) async throws -> Response
    ) async throws -> Response {
        _ = try context.requireUser(role: self.role)
        return try await next(request, context)
    }
}

/// The client address the service acts on (rate limits, session listings).
enum ClientAddress {
    /// The socket's peer, or with `trustProxy` the last `X-Forwarded-For` entry (the one the proxy in front
    /// of the service appended; entries before it are whatever the client claimed).
    static func of(_ request: Request, context: ShopRequestContext, trustProxy: Bool) -> String {
        if trustProxy, let forwarded = request.headers[values: .xForwardedFor].last,
            let last = forwarded.split(separator: ",").last?.trimmingSpaces,
            Self.looksLikeAddress(last)
        {
            return String(last)
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }

    static func looksLikeAddress(_ text: Substring) -> Bool {
        (2...45).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20) || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: ":")
            }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
