import Crypto
public import Logging
import Metrics
import NIOCore
public import RedisClient
public import RedisSessions

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Accounts: registration, sign-in with rate limits, sessions, role changes.
///
/// The HTTP layer (``AccountsController``) is a thin shell over this type; other modules use it directly,
/// for example an admin endpoint that changes a role calls ``changeRole(of:to:)``.
public struct AccountService: Sendable {
    /// The session store (Redis).
    public let sessions: RedisSessionStore<AuthenticatedUser>
    let users: any UserRepository
    let hasher: PasswordHasher
    let limiter: RedisFixedWindowLimiter
    let configuration: AccountsConfiguration
    let logger: Logger
    let metrics = AccountMetrics()

    /// Creates the service.
    /// - Parameters:
    ///   - configuration: Timeouts, limits, hash cost.
    ///   - redis: The service's Redis client.
    ///   - users: Where accounts are stored.
    ///   - logger: The logger.
    public init(
        configuration: AccountsConfiguration,
        redis: RedisClient,
        users: any UserRepository,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.sessions = try RedisSessionStore(
            redis: redis,
            configuration: RedisSessionConfiguration(
                keyPrefix: configuration.sessionKeyPrefix,
                idleTimeout: configuration.sessionIdleTimeout,
                absoluteLifetime: configuration.sessionAbsoluteLifetime,
                touchInterval: configuration.sessionTouchInterval,
                revocationChannel: configuration.sessionRevocationChannel
            ),
            logger: logger,
            codec: AuthenticatedUser.sessionCodec
        )
        self.users = users
        self.hasher = PasswordHasher(cost: configuration.passwordHashCost)
        self.limiter = RedisFixedWindowLimiter(
            redis: redis,
            keyPrefix: configuration.sessionKeyPrefix,
            window: configuration.loginRateLimitWindow
        )
        self.logger = logger
    }

    /// Why a sign-in or registration was refused.
    public enum Refusal: Error, Sendable, Equatable {
        /// Unknown address or wrong password (deliberately not told apart).
        case invalidCredentials
        /// Too many attempts; try again after this many seconds.
        case rateLimited(retryAfterSeconds: Int)
    }

    /// Registers an account with the `user` role (the caller validated the input).
    /// - Parameters:
    ///   - email: The address.
    ///   - password: The password.
    ///   - address: The client address (counted against the per-address limit).
    /// - Returns: The new user.
    /// - Throws: ``Refusal/rateLimited(retryAfterSeconds:)``, ``DuplicateEmailError``.
    public func register(email: String, password: String, address: String) async throws -> AuthenticatedUser {
        let count = try await self.limiter.hit([Self.addressBucket(address)])[0]
        if count.count > self.configuration.loginMaxAttemptsPerAddress {
            self.metrics.registrationRateLimited.increment()
            self.logger.notice("registration rate limited", metadata: ["limit": "address"])
            throw Refusal.rateLimited(retryAfterSeconds: count.retryAfterSeconds)
        }
        let hash = try await self.hasher.hash(password)
        let user = try await self.users.create(email: email, passwordHash: hash, role: .user)
        self.metrics.registered.increment()
        self.logger.info("account registered", metadata: ["user.id": "\(user.id)"])
        return user
    }

    /// Checks credentials and starts a session, replacing (ending) the one the client presented, if any.
    ///
    /// Every attempt counts against the account's and the address's window before the password is checked;
    /// a success clears the account's count. An unknown address costs one bcrypt verification like a wrong
    /// password, and both answer ``Refusal/invalidCredentials``.
    /// - Parameters:
    ///   - email: The address given.
    ///   - password: The password given.
    ///   - client: User agent and address.
    ///   - previous: The session the request came with (pre-sign-in or another user's).
    /// - Returns: The new session.
    public func signIn(
        email: String,
        password: String,
        client: SessionClient,
        replacing previous: Session<AuthenticatedUser>?
    ) async throws -> Session<AuthenticatedUser> {
        let accountBucket = Self.accountBucket(email)
        let (account, address) = try await self.limiter.hit(accountBucket, Self.addressBucket(client.address))
        var retryAfter = 0
        if account.count > self.configuration.loginMaxAttemptsPerAccount {
            retryAfter = account.retryAfterSeconds
        }
        if address.count > self.configuration.loginMaxAttemptsPerAddress {
            retryAfter = max(retryAfter, address.retryAfterSeconds)
        }
        if retryAfter > 0 {
            self.metrics.rateLimited.increment()
            self.logger.notice(
                "sign-in rate limited",
                metadata: [
                    "limit": account.count > self.configuration.loginMaxAttemptsPerAccount ? "account" : "address"
                ]
            )
            throw Refusal.rateLimited(retryAfterSeconds: retryAfter)
        }
        // An address that could never have been registered (NUL, control characters, too long) names no
        // account: it is not looked up (PostgreSQL would refuse a NUL), and the answer is the same as for an
        // unknown address, after the same password hashing.
        let stored = Credentials.emailProblem(email) == nil ? try await self.users.find(email: email) : nil
        let matches = try await self.hasher.verify(password, against: stored?.passwordHash)
        guard let stored, matches, Credentials.isPlausiblePassword(password) else {
            self.metrics.failed.increment()
            self.logger.notice("sign-in failed")
            throw Refusal.invalidCredentials
        }
        try await self.limiter.reset(accountBucket)
        let session = try await self.sessions.create(
            stored.user,
            userID: stored.user.id.uuidString.lowercased(),
            client: client,
            replacing: previous
        )
        self.metrics.succeeded.increment()
        self.logger.info("signed in", metadata: ["user.id": "\(stored.user.id)", "session": "\(session.handle)"])
        return session
    }

    /// Changes a user's role and ends all of that user's sessions, so no session keeps the old privileges
    /// (the user signs in again and gets a new session id with the new role).
    /// - Parameters:
    ///   - id: The user.
    ///   - role: The new role.
    /// - Returns: Whether the user exists.
    @discardableResult
    public func changeRole(of id: UUID, to role: Role) async throws -> Bool {
        guard try await self.users.setRole(id: id, role: role) else { return false }
        let ended = try await self.sessions.revokeAll(userID: id.uuidString.lowercased())
        self.logger.info(
            "role changed; sessions ended",
            metadata: ["user.id": "\(id)", "role": "\(role)", "sessions": "\(ended)"]
        )
        return true
    }

    /// The rate-limit bucket of an account: a hash of the normalised address, so no e-mail address appears
    /// in a Redis key.
    static func accountBucket(_ email: String) -> String {
        let normalised = email.trimmingCharacters(in: .whitespaces).lowercased()
        let digest = SHA256.hash(data: Array(normalised.utf8))
        return "login:account:"
            + digest.prefix(16).map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
    }

    /// The rate-limit bucket of a client address: the address itself for IPv4, the /64 prefix for IPv6 (one
    /// subscriber usually holds a whole /64, so counting single IPv6 addresses would limit nothing).
    static func addressBucket(_ address: String) -> String {
        if address.contains(":"), let socket = try? SocketAddress(ipAddress: address, port: 0),
            case .v6(let v6) = socket
        {
            let prefix = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0.prefix(8)) }
            return "auth:address:"
                + prefix.map { byte in
                    let hex = String(byte, radix: 16)
                    return byte < 16 ? "0" + hex : hex
                }.joined() + "::/64"
        }
        return "auth:address:" + address
    }
}

/// Counters of sign-in outcomes (swift-metrics).
struct AccountMetrics: Sendable {
    let succeeded = Counter(label: "auth_sign_ins_total", dimensions: [("result", "success")])
    let failed = Counter(label: "auth_sign_ins_total", dimensions: [("result", "invalid_credentials")])
    let rateLimited = Counter(label: "auth_sign_ins_total", dimensions: [("result", "rate_limited")])
    let registered = Counter(label: "auth_registrations_total", dimensions: [("result", "success")])
    let registrationRateLimited = Counter(label: "auth_registrations_total", dimensions: [("result", "rate_limited")])
}
