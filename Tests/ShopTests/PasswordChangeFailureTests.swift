import Logging
import RedisClient
import RedisSessions
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A session store failure after the new password hash is stored still ends the user's sessions, or says that it
/// could not (docs/security.md, "What rotates, what ends").
@Suite("Password change when Redis fails midway")
struct PasswordChangeFailureTests {
    static let oldPassword = "correct horse battery"

    /// One user in memory; `afterStoring` runs once the new hash is stored (where the failure is injected).
    final class Users: UserRepository {
        let stored: Mutex<StoredUser>
        let afterStoring: @Sendable () async -> Void

        init(_ user: StoredUser, afterStoring: @escaping @Sendable () async -> Void) {
            self.stored = Mutex(user)
            self.afterStoring = afterStoring
        }

        func find(email: String) async throws -> StoredUser? {
            self.stored.withLock { $0.user.email == email ? $0 : nil }
        }
        func create(email: String, passwordHash: PasswordHash, role: Role) async throws -> AuthenticatedUser {
            throw DuplicateEmailError()
        }
        func setRole(id: UUID, role: Role) async throws -> Bool { false }
        func setPasswordHash(id: UUID, hash: PasswordHash) async throws -> Bool {
            self.stored.withLock { $0.passwordHash = hash }
            await self.afterStoring()
            return true
        }
    }

    /// Three sessions of one user on a private redis-server; `fail` breaks that server after the hash is stored.
    static func change(
        fail: @escaping @Sendable (CatalogRedisServer) async -> Void,
        _ check: (Result<AccountService.PasswordChange, any Error>, CatalogRedisServer, [SessionID]) async throws
            -> Void
    ) async throws {
        let server = try await CatalogRedisServer.start()
        var redisConfiguration = try RedisConfiguration(url: server.url)
        redisConfiguration.commandTimeout = .seconds(2)
        let redis = RedisClient(configuration: redisConfiguration, logger: TestServers.logger)
        var configuration = AccountsConfiguration()
        configuration.passwordHashCost = 4
        configuration.sessionKeyPrefix = "test:password-failure:"
        let hasher = PasswordHasher(cost: 4)
        let user = AuthenticatedUser(id: UUID(), email: "midway@example.com", role: .user, createdAt: Date())
        let users = Users(StoredUser(user: user, passwordHash: try await hasher.hash(Self.oldPassword))) {
            await fail(server)
        }
        do {
            let service = try AccountService(
                configuration: configuration,
                redis: redis,
                users: users,
                logger: TestServers.logger
            )
            let client = SessionClient(userAgent: "tests/1.0", address: "192.0.2.1")
            var sessions: [Session<AuthenticatedUser>] = []
            for _ in 0..<3 {
                sessions.append(
                    try await service.sessions.create(user, userID: user.id.uuidString.lowercased(), client: client)
                )
            }
            let outcome: Result<AccountService.PasswordChange, any Error>
            do {
                outcome = .success(
                    try await service.changePassword(
                        current: Self.oldPassword,
                        new: "a brand new passphrase",
                        session: sessions[0],
                        address: "192.0.2.1"
                    )
                )
            } catch {
                outcome = .failure(error)
            }
            try await check(outcome, server, sessions.map(\.id))
            await redis.shutdown()
            await server.destroy()
        } catch {
            await redis.shutdown()
            await server.destroy()
            throw error
        }
    }

    /// What a full Redis does: writes that need memory are refused (`-OOM`), deletions still work.
    static func refuseWrites(_ server: CatalogRedisServer) async {
        await server.cli(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        await server.cli(["CONFIG", "SET", "maxmemory", "1"])
    }

    static func kill(_ server: CatalogRedisServer) async { await server.stop() }

    @Test func redisRefusingWritesAfterTheHashStillEndsEverySession() async throws {
        try await Self.change(fail: Self.refuseWrites) { outcome, server, _ in
            #expect(throws: AccountService.PasswordChangeError.sessionsNotRotated(sessionsEnded: true)) {
                try outcome.get()
            }
            await server.cli(["CONFIG", "SET", "maxmemory", "0"])
            let keys = await server.cli(["--scan", "--pattern", "test:password-failure:session:*"])
            #expect(keys.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no session left: \(keys)")
        }
    }

    /// Redis gone after the hash: nothing can be ended, and the error says the password changed anyway.
    @Test func redisGoneAfterTheHashIsReportedAsAChangedPassword() async throws {
        try await Self.change(fail: Self.kill) { outcome, _, _ in
            #expect(throws: AccountService.PasswordChangeError.sessionsNotRotated(sessionsEnded: false)) {
                try outcome.get()
            }
        }
    }
}
