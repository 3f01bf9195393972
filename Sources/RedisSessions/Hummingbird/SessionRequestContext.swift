public import Hummingbird

/// A request context that carries the session the ``SessionMiddleware`` loaded.
///
/// Add one stored property to your context:
///
/// ```swift
/// struct AppRequestContext: SessionRequestContext {
///     var coreContext: CoreRequestContextStorage
///     var sessions = SessionContext<MyValue>()
///     init(source: ApplicationRequestContextSource) { self.coreContext = .init(source: source) }
/// }
/// ```
public protocol SessionRequestContext: RequestContext {
    /// The application's session value.
    associatedtype SessionValue: Codable & Sendable
    /// What the middleware found for this request.
    var sessions: SessionContext<SessionValue> { get set }
}

/// The session state of one request.
public struct SessionContext<Value: Codable & Sendable>: Sendable {
    /// The live session the request's cookie named, if any.
    public internal(set) var current: Session<Value>?
    /// Whether the request carried a session cookie at all (valid or not).
    public internal(set) var cookiePresented: Bool
    /// Set when the session could not be looked up (Redis unavailable); ``current`` is then nil although the
    /// client may well be signed in, so protected routes should answer "unavailable" rather than
    /// "unauthorized".
    public internal(set) var lookupError: (any Error)?
    /// When the request's cookie names no live session: the `Set-Cookie` value that removes it.
    ///
    /// The middleware adds it to responses that handlers return; code that answers with an error (for
    /// example "401, sign in first") can add it to the error's headers so the client drops the dead cookie.
    public internal(set) var clearingSetCookie: String?

    /// No session.
    public init() {
        self.current = nil
        self.cookiePresented = false
        self.lookupError = nil
        self.clearingSetCookie = nil
    }
}
