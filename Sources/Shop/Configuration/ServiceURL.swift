/// A `scheme://user:password@host:port/path?query` URL split into its parts, percent-decoded.
///
/// Parsed by hand so that every problem can be reported precisely without quoting the password.
struct ServiceURL: Sendable {
    var scheme: String
    var user: String?
    var password: String?
    var host: String
    var port: Int?
    var path: String
    var query: [(name: String, value: String)]

    init(_ string: String) throws(URLProblem) {
        guard let schemeEnd = string.range(of: "://") else {
            throw URLProblem("is not a URL (expected scheme://host...)")
        }
        self.scheme = string[..<schemeEnd.lowerBound].lowercased()
        var rest = Substring(string[schemeEnd.upperBound...])
        guard !rest.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            throw URLProblem("contains white space or control characters")
        }

        var queryPart: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            queryPart = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var authority = rest
        self.path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            self.path = try Self.decode(rest[rest.index(after: slash)...], part: "path")
        }

        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                self.user = try Self.decode(userInfo[..<colon], part: "user name")
                self.password = try Self.decode(userInfo[userInfo.index(after: colon)...], part: "password")
            } else {
                self.user = try Self.decode(userInfo, part: "user name")
            }
            if self.user == "" { self.user = nil }
        }

        var hostPart = authority
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw URLProblem("has an unterminated [IPv6] host") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                portPart = after.dropFirst()
            } else if !after.isEmpty {
                throw URLProblem("has unexpected characters after the [IPv6] host")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw URLProblem("has no host") }
        guard
            hostPart.allSatisfy({ char in
                char.isASCII
                    && (char.isLetter || char.isNumber || char == "." || char == "-" || char == "_" || char == ":")
            })
        else {
            throw URLProblem("has an invalid host name")
        }
        self.host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else {
                throw URLProblem("port \(ShopConfiguration.quoted(String(portPart))) is not a port number (1-65535)")
            }
            self.port = port
        }

        self.query = []
        for item in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(pair[0], part: "query")
            let value = pair.count > 1 ? try Self.decode(pair[1], part: "query") : ""
            self.query.append((name, value))
        }
    }

    /// Percent-decodes `text`; a malformed escape or invalid UTF-8 is a problem of `part`.
    static func decode(_ text: Substring, part: String) throws(URLProblem) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue),
                    let low = iterator.next().flatMap(Self.hexValue)
                else {
                    throw URLProblem("has a malformed percent escape in the \(part)")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw URLProblem("has a \(part) that is not valid UTF-8")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `host:port` with brackets around an IPv6 address.
    var hostAndPort: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port.map { "\(host):\($0)" } ?? host
    }
}

/// What is wrong with a URL, phrased to follow the name of the key (`DATABASE_URL: has no host`).
public struct URLProblem: Error, Sendable, CustomStringConvertible {
    /// The problem, for example `has no host`.
    public let problem: String
    init(_ problem: String) { self.problem = problem }
    public var description: String { self.problem }
}
