public import RedisSessions

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
    /// RFC 3339, formatted here rather than by the encoder's date strategy (same text, a fraction of the cost;
    /// `GET /api/v1/me` is the hottest authenticated route).
    var createdAt: String
    /// Loyalty points (one per whole currency unit of each confirmed order).
    var points: Int64

    init(_ user: AuthenticatedUser, points: Int64) {
        self.id = user.id.uuidString.lowercased()
        self.email = user.email
        self.role = user.role
        self.createdAt = RFC3339.string(from: user.createdAt)
        self.points = points
    }
}

extension AuthenticatedUser {
    /// How sessions store the user: `1<TAB>id<TAB>role<TAB>created ms<TAB>email` (decoded on every signed-in
    /// request, several times faster than JSON). The leading `1` is the format's version; a session in an
    /// unknown format is unreadable, so the store removes it and the user signs in again.
    public static let sessionCodec = SessionValueCodec<AuthenticatedUser>(
        encode: { user in
            let milliseconds = Int64((user.createdAt.timeIntervalSince1970 * 1000).rounded(.down))
            return "1\t\(user.id.uuidString.lowercased())\t\(user.role.rawValue)\t\(milliseconds)\t\(user.email)"
        },
        decode: { bytes in
            var fields: [Substring] = []
            let text = String(decoding: bytes, as: UTF8.self)
            fields.reserveCapacity(5)
            var rest = text[...]
            while fields.count < 4, let tab = rest.utf8.firstIndex(of: UInt8(ascii: "\t")) {
                fields.append(rest[..<tab])
                rest = rest[rest.utf8.index(after: tab)...]
            }
            fields.append(rest)
            guard fields.count == 5, fields[0] == "1", let id = fastUUID(fields[1]),
                let role = Role(rawValue: String(fields[2])), let milliseconds = Int64(fields[3]), !fields[4].isEmpty
            else { throw SessionValueFormatError() }
            return AuthenticatedUser(
                id: id,
                email: String(fields[4]),
                role: role,
                createdAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            )
        }
    )
}

/// Parses a canonical (8-4-4-4-12 hex) UUID without going through Foundation's parser, which showed up in
/// profiles of `GET /api/v1/me`; anything else falls back to `UUID(uuidString:)`.
func fastUUID(_ text: Substring) -> UUID? {
    let utf8 = text.utf8
    guard utf8.count == 36 else { return UUID(uuidString: String(text)) }
    var bytes = [UInt8](repeating: 0, count: 16)
    var index = 0
    var high: UInt8? = nil
    for (position, character) in utf8.enumerated() {
        if position == 8 || position == 13 || position == 18 || position == 23 {
            guard character == UInt8(ascii: "-") else { return nil }
            continue
        }
        let nibble: UInt8
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
        default: return nil
        }
        if let first = high {
            bytes[index] = first << 4 | nibble
            index += 1
            high = nil
        } else {
            high = nibble
        }
    }
    return UUID(
        uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
            bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        )
    )
}

struct SessionValueFormatError: Error, CustomStringConvertible {
    var description: String { "the session does not hold a user in format 1" }
}

/// RFC 3339 timestamps in UTC with whole seconds (`2026-01-01T00:00:00Z`), as the API writes them.
enum RFC3339 {
    /// The date, with the fraction of a second dropped.
    static func string(from date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var text = ""
        text.reserveCapacity(20)
        func append(_ value: Int64, width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        append(year, width: 4)
        text += "-"
        append(month, width: 2)
        text += "-"
        append(day, width: 2)
        text += "T"
        append(secondOfDay / 3600, width: 2)
        text += ":"
        append(secondOfDay / 60 % 60, width: 2)
        text += ":"
        append(secondOfDay % 60, width: 2)
        text += "Z"
        return text
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
