#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// What a user may do. `admin` may do everything a `user` may.
public enum Role: String, Codable, Sendable, CaseIterable {
    /// A customer.
    case user
    /// An operator: catalog writes, admin endpoints.
    case admin

    /// Whether this role includes `required`.
    /// - Parameter required: The role a route needs.
    public func includes(_ required: Role) -> Bool {
        self == required || self == .admin
    }
}

/// The signed-in user of a request, as the session recorded it at sign-in.
///
/// It is also the value stored in the session (so `GET /me` needs Redis only). Anything that changes a
/// user's role or removes the user must end their sessions (``AccountService/changeRole(of:to:)`` does), so a
/// session never carries a stale role.
public struct AuthenticatedUser: Codable, Sendable, Equatable {
    /// The user's id.
    public var id: UUID
    /// The e-mail address as registered.
    public var email: String
    /// The role at sign-in.
    public var role: Role
    /// When the account was created.
    public var createdAt: Date

    /// Creates a user value.
    /// - Parameters:
    ///   - id: The user's id.
    ///   - email: The e-mail address.
    ///   - role: The role.
    ///   - createdAt: When the account was created.
    public init(id: UUID, email: String, role: Role, createdAt: Date) {
        self.id = id
        self.email = email
        self.role = role
        self.createdAt = createdAt
    }
}

/// A user as the API shows it: `{"createdAt", "email", "id", "role"}` (never the password hash), with the id
/// in lowercase canonical form.
struct UserResource: Encodable, Sendable, Equatable {
    var id: String
    var email: String
    var role: Role
    var createdAt: Date

    init(_ user: AuthenticatedUser) {
        self.id = user.id.uuidString.lowercased()
        self.email = user.email
        self.role = user.role
        self.createdAt = user.createdAt
    }
}

/// A bcrypt hash. Its descriptions are redacted, so it cannot reach a log or a response by accident.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The `$2b$...` text.
    public let value: String

    /// Wraps a hash.
    /// - Parameter value: The bcrypt text.
    public init(_ value: String) { self.value = value }

    public var description: String { "PasswordHash(redacted)" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A row of `users`.
public struct StoredUser: Sendable, Equatable {
    /// The user as sessions and responses carry it.
    public var user: AuthenticatedUser
    /// The password hash.
    public var passwordHash: PasswordHash

    /// Creates a row value.
    /// - Parameters:
    ///   - user: The public part.
    ///   - passwordHash: The hash.
    public init(user: AuthenticatedUser, passwordHash: PasswordHash) {
        self.user = user
        self.passwordHash = passwordHash
    }
}
