import HTTPTypes
public import Hummingbird

/// Refuses state-changing requests that a browser marks as coming from another site (CSRF protection
/// without tokens).
///
/// For every method other than `GET`, `HEAD`, `OPTIONS` and `TRACE` the decision is
/// ``CrossSiteRequestPolicy/evaluate(method:origin:fetchSite:host:)``:
/// 1. an `Origin` listed in ``CrossSiteRequestPolicy/trustedOrigins`` is allowed;
/// 2. otherwise, when the browser sent `Sec-Fetch-Site`, only `same-origin` and `none` (typed by the user) are
///    allowed;
/// 3. otherwise, when it sent `Origin`, the origin's host and port must be the request's `Host`
///    (`Origin: null` is refused);
/// 4. a request with neither header does not come from a modern browser's cross-site context (curl,
///    server-to-server calls) and is allowed; `SameSite=Lax` already keeps old browsers from attaching the
///    session cookie to a cross-site POST.
public struct CrossSiteRequestGuard<Context: RequestContext>: RouterMiddleware {
    /// The rules.
    public let policy: CrossSiteRequestPolicy
    let rejection: @Sendable (Request, Context, CrossSiteRequestPolicy.Rejection) -> any Error

    /// Creates the guard.
    /// - Parameters:
    ///   - policy: The rules (trusted origins).
    ///   - rejection: The error to throw for a refused request (default `403 Forbidden` as an `HTTPError`).
    public init(
        policy: CrossSiteRequestPolicy = CrossSiteRequestPolicy(),
        rejection: @escaping @Sendable (Request, Context, CrossSiteRequestPolicy.Rejection) -> any Error = {
            _,
            _,
            reason in
            HTTPError(.forbidden, message: reason.description)
        }
    ) {
        self.policy = policy
        self.rejection = rejection
    }

    /// Checks the request, then calls the next responder.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let outcome = self.policy.evaluate(
            method: request.method,
            origin: request.headers[.origin],
            fetchSite: request.headers[.secFetchSite],
            host: request.head.authority
        )
        if case .reject(let reason) = outcome {
            throw self.rejection(request, context, reason)
        }
        return try await next(request, context)
    }
}

/// The pure decision of ``CrossSiteRequestGuard``.
public struct CrossSiteRequestPolicy: Sendable, Equatable {
    /// Origins (`https://app.example.com`) allowed to send state-changing requests although they are another
    /// origin, for example a front end on a sibling host. Compared exactly, lower-cased.
    public var trustedOrigins: Set<String>

    /// Creates a policy.
    /// - Parameter trustedOrigins: Extra origins to allow, as `scheme://host[:port]`.
    public init(trustedOrigins: some Sequence<String> = []) {
        self.trustedOrigins = Set(trustedOrigins.map { $0.lowercased() })
    }

    /// Why a request was refused.
    public enum Rejection: Sendable, Equatable, CustomStringConvertible {
        /// `Sec-Fetch-Site` said `cross-site` or `same-site`.
        case fetchSite(String)
        /// `Origin` names another host, or is `null`.
        case origin

        public var description: String {
            switch self {
            case .fetchSite:
                "Cross-site requests may not change state (Sec-Fetch-Site)."
            case .origin:
                "Cross-site requests may not change state (Origin does not match Host)."
            }
        }
    }

    /// A decision.
    public enum Outcome: Sendable, Equatable {
        /// Let the request through.
        case allow
        /// Refuse it.
        case reject(Rejection)
    }

    /// Decides about one request.
    /// - Parameters:
    ///   - method: The request method.
    ///   - origin: The `Origin` header, if any.
    ///   - fetchSite: The `Sec-Fetch-Site` header, if any.
    ///   - host: The request's `Host` (authority), if any.
    public func evaluate(
        method: HTTPRequest.Method,
        origin: String?,
        fetchSite: String?,
        host: String?
    ) -> Outcome {
        switch method {
        case .get, .head, .options, .trace: return .allow
        default: break
        }
        if let origin, self.trustedOrigins.contains(origin.lowercased()) {
            return .allow
        }
        if let fetchSite {
            switch fetchSite.lowercased() {
            case "same-origin", "none": return .allow
            default: return .reject(.fetchSite(fetchSite))
            }
        }
        if let origin {
            guard let host, let originHost = Self.authority(ofOrigin: origin),
                Self.sameAuthority(originHost, host.lowercased())
            else { return .reject(.origin) }
            return .allow
        }
        return .allow
    }

    /// `host[:port]` of `scheme://host[:port]`, lower-cased; nil for `null` or anything else.
    static func authority(ofOrigin origin: String) -> String? {
        let lowered = origin.lowercased()
        for (scheme, port) in [("https://", ":443"), ("http://", ":80")] where lowered.hasPrefix(scheme) {
            var authority = lowered.dropFirst(scheme.count)
            guard !authority.isEmpty, !authority.contains("/") else { return nil }
            if authority.hasSuffix(port) { authority = authority.dropLast(port.count) }
            return String(authority)
        }
        return nil
    }

    /// Whether `origin` (already without a default port) is `host`, allowing `host` to carry a default port.
    private static func sameAuthority(_ origin: String, _ host: String) -> Bool {
        origin == host || origin + ":80" == host || origin + ":443" == host
    }
}

extension HTTPField.Name {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
}
