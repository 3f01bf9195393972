/// A validated `redis://[user:password@]host[:port][/db]` URL.
public struct RedisURL: Sendable, Equatable {
    /// The server's host name or address.
    public var host: String
    /// The server's port (default 6379).
    public var port: Int
    /// The ACL user, if any.
    public var user: String?
    /// The password, if any. Never logged.
    public var password: String?
    /// The logical database number (default 0).
    public var database: Int

    /// Parses and validates `string`.
    /// - Parameter string: A `redis://` URL.
    public init(_ string: String) throws(URLProblem) {
        let url = try ServiceURL(string)
        guard url.scheme == "redis" else {
            throw URLProblem("must start with redis:// (got \(ShopConfiguration.quoted(url.scheme))://)")
        }
        guard url.query.isEmpty else { throw URLProblem("takes no query parameters") }
        self.host = url.host
        self.port = url.port ?? 6379
        self.user = url.user
        self.password = url.password
        if url.path.isEmpty {
            self.database = 0
        } else {
            guard let database = Int(url.path), (0...15_999).contains(database) else {
                throw URLProblem("database \(ShopConfiguration.quoted(url.path)) is not a database number")
            }
            self.database = database
        }
    }

    /// The URL built from its parts; it may hold a password, so never log it (use ``redacted``).
    public var string: String {
        var userInfo = ""
        if self.user != nil || self.password != nil {
            userInfo = Self.encode(self.user ?? "") + (self.password.map { ":" + Self.encode($0) } ?? "") + "@"
        }
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "redis://\(userInfo)\(host):\(self.port)/\(self.database)"
    }

    private static func encode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (byte < 16 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// The URL with the password replaced by `***`, safe to log.
    public var redacted: String {
        var userInfo = ""
        if self.user != nil || self.password != nil {
            userInfo = (self.user ?? "") + (self.password == nil ? "" : ":***") + "@"
        }
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "redis://\(userInfo)\(host):\(self.port)/\(self.database)"
    }
}
