import Hummingbird
import RedisSessions

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/admin/sessions[?email=]` and `DELETE /api/v1/admin/sessions/{userId}/{id}` (admins): how many
/// sessions exist, one user's sessions, and ending one of them — what the console's Sessions page shows and does.
struct SessionsAdminController: Sendable {
    let service: AccountService

    var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get(use: self.list)
        routes.delete(":userId/:id", use: self.revoke)
        return routes
    }

    /// The answer of `GET /api/v1/admin/sessions`.
    struct Listing: Codable, Sendable, Equatable {
        /// How many sessions exist now, of every user.
        var active: Int
        /// The user looked up with `?email=`, and their sessions (nil without `email`).
        var user: UserSessions?
    }

    struct UserSessions: Codable, Sendable, Equatable {
        var id: String
        var email: String
        var role: String
        var sessions: [SessionResource]
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<Listing, EmptyMeta> {
        var user: UserSessions?
        if let email = request.uri.queryParameters["email"].map(String.init) {
            // An address that could never have been registered names no account (PostgreSQL would refuse a NUL).
            guard Credentials.emailProblem(email) == nil, let stored = try await self.service.users.find(email: email)
            else { throw APIError.notFound("No account has the e-mail address \(email).") }
            let id = stored.user.id.uuidString.lowercased()
            let current = context.sessions.current?.handle
            let sessions = try await AccountsController.redisGuarded {
                try await self.service.sessions.sessions(userID: id)
            }
            user = UserSessions(
                id: id,
                email: stored.user.email,
                role: stored.user.role.rawValue,
                sessions: sessions.map { SessionResource($0, current: $0.handle == current) }
            )
        }
        let active = try await AccountsController.redisGuarded { try await self.service.sessions.countSessions() }
        return Envelope(data: Listing(active: active, user: user))
    }

    @Sendable func revoke(_ request: Request, context: ShopRequestContext) async throws -> Response {
        guard let user = UUID(uuidString: context.parameters.get("userId") ?? "") else {
            throw APIError.invalidParameters([
                FieldError(field: "userId", code: .invalidFormat, message: "must be a user id (a UUID)")
            ])
        }
        let userID = user.uuidString.lowercased()
        let handle = try AccountsController.sessionHandle(context, listedBy: "GET /api/v1/admin/sessions")
        let ended = try await AccountsController.redisGuarded {
            try await self.service.sessions.revoke(handle: handle, userID: userID)
        }
        guard ended else { throw APIError.notFound("The user \(userID) has no session with the id \(handle).") }
        return Response(status: .noContent)
    }
}
