public import Hummingbird
import Logging

/// Loads the session named by the request's cookie into the context (one Redis round trip, and none at all
/// for requests without the cookie).
///
/// - A well-formed cookie is looked up with ``RedisSessionStore/load(_:)``; the result goes to
///   `context.sessions.current`.
/// - A cookie that names no live session (malformed, expired, revoked) is removed from the client with an
///   expired `Set-Cookie` on the response, unless the handler set the cookie itself.
/// - If Redis cannot be reached, the request continues without a session and `context.sessions.lookupError`
///   says why; anonymous routes keep working, and protected routes can answer "unavailable".
///
/// The middleware does not require a session; put an authorization middleware after it on protected routes.
public struct SessionMiddleware<Context: SessionRequestContext>: RouterMiddleware {
    /// The store sessions are loaded from.
    public let store: RedisSessionStore<Context.SessionValue>
    /// The cookie's name and attributes.
    public let cookie: SessionCookie

    /// Creates the middleware.
    /// - Parameters:
    ///   - store: Where sessions live.
    ///   - cookie: The cookie's name and attributes.
    public init(store: RedisSessionStore<Context.SessionValue>, cookie: SessionCookie) {
        self.store = store
        self.cookie = cookie
    }

    /// Loads the session, then calls the next responder.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let value = self.cookie.value(in: request.headers[values: .cookie]) else {
            return try await next(request, context)
        }
        var context = context
        context.sessions.cookiePresented = true
        if let id = SessionID(cookieValue: value) {
            do {
                context.sessions.current = try await self.store.load(id)
            } catch {
                context.sessions.lookupError = error
                context.logger.warning(
                    "session lookup failed; continuing without a session",
                    metadata: ["error.type": "\(type(of: error))", "error": "\(error)"]
                )
            }
        }
        if context.sessions.current == nil, context.sessions.lookupError == nil {
            context.sessions.clearingSetCookie = self.cookie.expiredSetCookieValue
        }
        var response = try await next(request, context)
        if let clearing = context.sessions.clearingSetCookie,
            !self.cookie.isSet(in: response.headers[values: .setCookie])
        {
            response.headers[values: .setCookie].append(clearing)
        }
        return response
    }
}
