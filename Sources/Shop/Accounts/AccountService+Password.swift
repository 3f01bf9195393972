public import RedisSessions

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

extension AccountService {
    /// What a password change did.
    public struct PasswordChange: Sendable {
        /// The caller's session under a new identifier (same deadline); send its cookie.
        public let session: Session<AuthenticatedUser>
        /// How many other sessions of the user ended.
        public let endedSessions: Int
    }

    /// Why a password change did not happen, besides ``Refusal``.
    public enum PasswordChangeError: Error, Sendable, Equatable {
        /// The caller's session ended meanwhile (every session of the user was ended; the password changed).
        case sessionEnded
        /// The password changed, then the session store failed before the sessions were rotated and ended.
        /// Every session of the user was then ended once more (`sessionsEnded`), or that failed too and other
        /// sessions may still be live.
        case sessionsNotRotated(sessionsEnded: Bool)
    }

    /// Changes the signed-in user's password: a privilege change of the session, so its identifier rotates and
    /// every other session of the user ends.
    ///
    /// The current password is checked like a sign-in — the same per-account and per-address limits, counted
    /// before the check, so a stolen session cannot be used to guess the password faster than sign-in allows.
    /// Then the new hash is stored, the caller's session gets a new identifier (the old one stops working at
    /// once, everywhere), and every other session of the user ends (announced, so their notification streams
    /// close on every instance).
    /// - Parameters:
    ///   - current: The current password, as the user typed it.
    ///   - new: The new password (the caller validated it with the registration rules).
    ///   - session: The caller's session.
    ///   - address: The client address (counted against the per-address limit).
    /// - Returns: The rotated session and how many other sessions ended.
    /// - Throws: ``Refusal/invalidCredentials`` (wrong current password), ``Refusal/rateLimited(retryAfterSeconds:)``,
    ///   ``PasswordChangeError/sessionEnded``, ``PasswordChangeError/sessionsNotRotated(sessionsEnded:)`` (the
    ///   password changed; Redis failed before the sessions were rotated and ended).
    public func changePassword(
        current: String,
        new: String,
        session: Session<AuthenticatedUser>,
        address: String
    ) async throws -> PasswordChange {
        let user = session.value
        let accountBucket = Self.accountBucket(user.email)
        let (account, perAddress) = try await self.limiter.hit(accountBucket, Self.addressBucket(address))
        var retryAfter = 0
        if account.count > self.configuration.loginMaxAttemptsPerAccount { retryAfter = account.retryAfterSeconds }
        if perAddress.count > self.configuration.loginMaxAttemptsPerAddress {
            retryAfter = max(retryAfter, perAddress.retryAfterSeconds)
        }
        if retryAfter > 0 {
            self.logger.notice("password change rate limited", metadata: ["user.id": "\(user.id)"])
            throw Refusal.rateLimited(retryAfterSeconds: retryAfter)
        }
        let stored = try await self.users.find(email: user.email)
        let matches = try await self.hasher.verify(current, against: stored?.passwordHash)
        guard let stored, stored.user.id == user.id, matches, Credentials.isPlausiblePassword(current) else {
            self.logger.notice("password change refused: wrong current password", metadata: ["user.id": "\(user.id)"])
            throw Refusal.invalidCredentials
        }
        let hash = try await self.hasher.hash(new)
        guard try await self.users.setPasswordHash(id: user.id, hash: hash) else { throw Refusal.invalidCredentials }
        // The password has changed: from here on, whatever fails, the sessions must end.
        let userID = user.id.uuidString.lowercased()
        let rotated: Session<AuthenticatedUser>
        let ended: Int
        do {
            guard let renewed = try await self.sessions.rotate(session) else {
                try await self.sessions.revokeAll(userID: userID)
                try? await self.limiter.reset(accountBucket)
                throw PasswordChangeError.sessionEnded
            }
            rotated = renewed
            ended = try await self.sessions.revokeAll(userID: userID, keeping: rotated.id)
        } catch let error as PasswordChangeError {
            throw error
        } catch {
            // Once more, every session (the rotated one too: its cookie will never reach the client).
            let again = try? await self.sessions.revokeAll(userID: userID)
            self.logger.error(
                "password changed but sessions not rotated",
                metadata: [
                    "user.id": "\(user.id)", "error": "\(error)", "sessions.ended": "\(again != nil)",
                ]
            )
            try? await self.limiter.reset(accountBucket)
            throw PasswordChangeError.sessionsNotRotated(sessionsEnded: again != nil)
        }
        // Best effort: a counter left behind expires with its window.
        try? await self.limiter.reset(accountBucket)
        self.logger.info(
            "password changed; session rotated, other sessions ended",
            metadata: ["user.id": "\(user.id)", "session": "\(rotated.handle)", "sessions": "\(ended)"]
        )
        return PasswordChange(session: rotated, endedSessions: ended)
    }
}
