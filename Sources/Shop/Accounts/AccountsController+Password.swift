import HTTPTypes
public import Hummingbird
import RedisSessions

extension AccountsController {
    /// The body of `POST /api/v1/me/password`.
    struct PasswordChangeBody: Decodable {
        var currentPassword: String
        var newPassword: String
    }

    /// `POST /api/v1/me/password`: checks the current password (with the sign-in limits), stores the new one,
    /// gives the caller's session a new id (new cookie) and ends every other session of the user.
    @Sendable func changePassword(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> EditedResponse<Envelope<RevokedSessions, EmptyMeta>> {
        let user = try context.requireUser()
        guard let session = context.sessions.current else { throw APIError.sessionStoreUnavailable }
        let body = try await request.decodeJSON(as: PasswordChangeBody.self, context: context)
        // The new password follows the registration rules (reported under `newPassword`).
        var validator = Validator()
        for var error in Credentials.problems(email: user.email, password: body.newPassword)
        where error.field == "password" {
            error.field = "newPassword"
            validator.add(error)
        }
        validator.require(
            !body.currentPassword.isEmpty,
            field: "currentPassword",
            code: .required,
            message: "must not be empty"
        )
        validator.require(
            body.newPassword != body.currentPassword,
            field: "newPassword",
            code: .invalidFormat,
            message: "must differ from the current password"
        )
        try validator.throwIfInvalid()
        let address = ClientAddress.of(request, context: context, trustProxy: self.trustProxy)
        let change: AccountService.PasswordChange
        do {
            change = try await Self.redisGuarded {
                do {
                    return try await self.service.changePassword(
                        current: body.currentPassword,
                        new: body.newPassword,
                        session: session,
                        address: address
                    )
                } catch AccountService.Refusal.invalidCredentials {
                    throw APIError(
                        status: .unauthorized,
                        code: .invalidCredentials,
                        detail: "The current password is incorrect; nothing was changed."
                    )
                }
            }
        } catch AccountService.PasswordChangeError.sessionEnded {
            var error = APIError(
                status: .unauthorized,
                code: .unauthorized,
                detail: "Your session ended meanwhile; the password was changed. Sign in again."
            )
            error.headers[.setCookie] = self.cookie.expiredSetCookieValue
            throw error
        } catch AccountService.PasswordChangeError.sessionsNotRotated(let sessionsEnded) {
            if sessionsEnded {
                var error = APIError(
                    status: .unauthorized,
                    code: .unauthorized,
                    detail:
                        "The password was changed, but the session store failed before your session got a new id; "
                        + "every session of yours was ended. Sign in with the new password."
                )
                error.headers[.setCookie] = self.cookie.expiredSetCookieValue
                throw error
            }
            var error = APIError.sessionStoreUnavailable
            error.detail =
                "The password was changed, but the session store failed: your other sessions may still be signed "
                + "in. Sign in with the new password and end them (DELETE /api/v1/me/sessions)."
            throw error
        }
        return EditedResponse(
            headers: [.setCookie: self.cookie.setCookieValue(for: change.session)],
            response: Envelope(data: RevokedSessions(revoked: change.endedSessions))
        )
    }
}
