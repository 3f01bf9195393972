public import Hummingbird
import Logging
import RedisClient
public import RedisSessions

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `POST /api/v1/auth/register|login|logout`, `GET /api/v1/me`, `GET|DELETE /api/v1/me/sessions[/{id}]`,
/// `POST /api/v1/me/password`.
public struct AccountsController: Sendable {
    let service: AccountService
    let cookie: SessionCookie
    let trustProxy: Bool
    let points: PointsReader

    /// Creates the controller.
    /// - Parameters:
    ///   - service: The accounts service.
    ///   - cookie: The session cookie's name and attributes.
    ///   - trustProxy: Whether the client address comes from `X-Forwarded-For`.
    ///   - points: Where users' loyalty points are read.
    public init(service: AccountService, cookie: SessionCookie, trustProxy: Bool, points: PointsReader) {
        self.service = service
        self.cookie = cookie
        self.trustProxy = trustProxy
        self.points = points
    }

    /// The routes to add under `/api/v1/auth`.
    public var authRoutes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.post("register", use: self.register)
        routes.post("login", use: self.login)
        routes.post("logout", use: self.logout)
        return routes
    }

    /// The routes to add under `/api/v1/me`; all need a session.
    public var meRoutes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireUser())
        routes.get(use: self.me)
        routes.get("sessions", use: self.listSessions)
        routes.delete("sessions", use: self.revokeOtherSessions)
        routes.delete("sessions/:id", use: self.revokeSession)
        routes.post("password", use: self.changePassword)
        return routes
    }

    struct CredentialsBody: Decodable {
        var email: String
        var password: String
    }

    // MARK: - /auth

    @Sendable func register(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> EditedResponse<UserEnvelope> {
        let body = try await request.decodeJSON(as: CredentialsBody.self, context: context)
        var validator = Validator()
        for error in Credentials.problems(email: body.email, password: body.password) { validator.add(error) }
        try validator.throwIfInvalid()
        let address = ClientAddress.of(request, context: context, trustProxy: self.trustProxy)
        do {
            let user = try await Self.redisGuarded {
                try await self.service.register(email: body.email, password: body.password, address: address)
            }
            return EditedResponse(status: .created, response: UserEnvelope(user, points: 0))
        } catch is DuplicateEmailError {
            throw APIError(
                status: .conflict,
                code: .conflict,
                detail: "An account with this e-mail address exists already."
            )
        }
    }

    @Sendable func login(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> EditedResponse<UserEnvelope> {
        let body = try await request.decodeJSON(as: CredentialsBody.self, context: context)
        let client = SessionClient(
            userAgent: request.headers[.userAgent] ?? "",
            address: ClientAddress.of(request, context: context, trustProxy: self.trustProxy)
        )
        let session = try await Self.redisGuarded {
            try await self.service.signIn(
                email: body.email,
                password: body.password,
                client: client,
                replacing: context.sessions.current
            )
        }
        return EditedResponse(
            headers: [.setCookie: self.cookie.setCookieValue(for: session)],
            response: UserEnvelope(session.value, points: try await self.points.points(of: session.value.id))
        )
    }

    @Sendable func logout(_ request: Request, context: ShopRequestContext) async throws -> Response {
        if context.sessions.lookupError != nil { throw APIError.sessionStoreUnavailable }
        if let session = context.sessions.current {
            try await Self.redisGuarded { try await self.service.sessions.revoke(session) }
        }
        return Response(status: .noContent, headers: [.setCookie: self.cookie.expiredSetCookieValue])
    }

    // MARK: - /me

    @Sendable func me(_ request: Request, context: ShopRequestContext) async throws -> UserEnvelope {
        let user = try context.requireUser()
        return UserEnvelope(user, points: try await self.points.points(of: user.id))
    }

    @Sendable func listSessions(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> Envelope<[SessionResource], EmptyMeta> {
        let user = try context.requireUser()
        let current = context.sessions.current?.handle
        let sessions = try await Self.redisGuarded {
            try await self.service.sessions.sessions(userID: user.id.uuidString.lowercased())
        }
        return Envelope(data: sessions.map { SessionResource($0, current: $0.handle == current) })
    }

    @Sendable func revokeSession(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let handle = try Self.sessionHandle(context, listedBy: "GET /api/v1/me/sessions")
        let ended = try await Self.redisGuarded {
            try await self.service.sessions.revoke(handle: handle, userID: user.id.uuidString.lowercased())
        }
        guard ended else { throw APIError.notFound("You have no session with the id \(handle).") }
        var response = Response(status: .noContent)
        if handle == context.sessions.current?.handle {
            response.headers[.setCookie] = self.cookie.expiredSetCookieValue
        }
        return response
    }

    @Sendable func revokeOtherSessions(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> Envelope<RevokedSessions, EmptyMeta> {
        let user = try context.requireUser()
        let ended = try await Self.redisGuarded {
            try await self.service.sessions.revokeAll(
                userID: user.id.uuidString.lowercased(),
                keeping: context.sessions.current?.id
            )
        }
        return Envelope(data: RevokedSessions(revoked: ended))
    }

    /// The `{id}` path parameter as a session handle; `400 INVALID_PARAMETER` naming `listedBy` when it is not one.
    static func sessionHandle(_ context: ShopRequestContext, listedBy: String) throws -> String {
        let handle = context.parameters.get("id") ?? ""
        guard SessionID.isValidHandle(handle) else {
            throw APIError.invalidParameters([
                FieldError(field: "id", code: .invalidFormat, message: "must be a session id from \(listedBy)")
            ])
        }
        return handle
    }

    /// Runs `body`, answering Redis failures with `503 DEPENDENCY_UNAVAILABLE` and refusals with the template.
    static func redisGuarded<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch is RedisError {
            throw APIError.sessionStoreUnavailable
        } catch AccountService.Refusal.invalidCredentials {
            throw APIError(
                status: .unauthorized,
                code: .invalidCredentials,
                detail: "The e-mail address or password is incorrect."
            )
        } catch AccountService.Refusal.rateLimited(let seconds) {
            throw APIError(
                status: .tooManyRequests,
                code: .tooManyRequests,
                detail: "Too many sign-in attempts. Try again in \(seconds) s.",
                headers: [.retryAfter: "\(seconds)"]
            )
        }
    }
}

/// One entry of `GET /api/v1/me/sessions`.
struct SessionResource: Codable, Sendable, Equatable {
    /// The public handle (never the cookie value).
    var id: String
    var createdAt: String
    var lastSeenAt: String
    var expiresAt: String
    var userAgent: String
    var ipAddress: String
    var current: Bool

    init(_ info: SessionInfo, current: Bool) {
        self.id = info.handle
        self.createdAt = RFC3339.string(from: info.createdAt)
        self.lastSeenAt = RFC3339.string(from: info.lastSeenAt)
        self.expiresAt = RFC3339.string(from: info.expiresAt)
        self.userAgent = info.client.userAgent
        self.ipAddress = info.client.address
        self.current = current
    }
}

/// The answer of `DELETE /api/v1/me/sessions`.
struct RevokedSessions: Codable, Sendable, Equatable {
    var revoked: Int
}
