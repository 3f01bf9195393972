#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The session cookie: its name and attributes, and how to write and read it.
///
/// The cookie is always `HttpOnly` (scripts cannot read it), `Path=/` unless set otherwise, `SameSite=Lax` by
/// default (browsers do not send it on cross-site sub-requests or cross-site POSTs), and `Secure` when
/// ``secure`` is on. With `secure` on, prefer a name starting with `__Host-`: browsers then refuse the cookie
/// unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite it.
public struct SessionCookie: Sendable, Equatable {
    /// `SameSite` values.
    public enum SameSite: String, Sendable {
        /// Sent on same-site requests and top-level cross-site navigations with a safe method.
        case lax = "Lax"
        /// Sent on same-site requests only.
        case strict = "Strict"
    }

    /// The cookie name.
    public var name: String
    /// Whether to add `Secure` (send only over HTTPS).
    public var secure: Bool
    /// The `Path` attribute.
    public var path: String
    /// The `SameSite` attribute.
    public var sameSite: SameSite

    /// Creates a cookie description.
    /// - Parameters:
    ///   - name: The cookie name (an RFC 6265 token).
    ///   - secure: Whether to add `Secure`.
    ///   - path: The `Path` attribute (default `/`).
    ///   - sameSite: The `SameSite` attribute (default `Lax`).
    public init(name: String, secure: Bool, path: String = "/", sameSite: SameSite = .lax) {
        self.name = name
        self.secure = secure
        self.path = path
        self.sameSite = sameSite
    }

    /// The `Set-Cookie` value that hands `session` to the client; it lasts until the session's absolute
    /// deadline (`Max-Age`), when the server would refuse it anyway.
    /// - Parameters:
    ///   - session: The session.
    ///   - now: The current time.
    public func setCookieValue(for session: Session<some Codable & Sendable>, now: Date = Date()) -> String {
        let maxAge = max(1, Int(session.expiresAt.timeIntervalSince(now).rounded()))
        return self.header(value: session.id.cookieValue, maxAge: maxAge)
    }

    /// The `Set-Cookie` value that removes the cookie from the client (`Max-Age=0`).
    public var expiredSetCookieValue: String {
        self.header(value: "", maxAge: 0)
    }

    private func header(value: String, maxAge: Int) -> String {
        var header =
            "\(self.name)=\(value); Path=\(self.path); Max-Age=\(maxAge); HttpOnly; SameSite=\(self.sameSite.rawValue)"
        if self.secure { header += "; Secure" }
        return header
    }

    /// The value of this cookie in `Cookie` request headers: the first occurrence, or nil.
    /// - Parameter cookieHeaders: The values of every `Cookie` header of the request.
    public func value(in cookieHeaders: some Sequence<String>) -> Substring? {
        let semicolon = UInt8(ascii: ";")
        for header in cookieHeaders {
            var rest = header[...]
            while !rest.isEmpty {
                let end = rest.utf8.firstIndex(of: semicolon) ?? rest.endIndex
                var pair = rest[..<end]
                rest = end == rest.endIndex ? rest[end...] : rest[rest.utf8.index(after: end)...]
                while let first = pair.utf8.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                    pair = pair[pair.utf8.index(after: pair.startIndex)...]
                }
                guard pair.hasPrefix(self.name) else { continue }
                var value = pair[pair.utf8.index(pair.startIndex, offsetBy: self.name.utf8.count)...]
                guard value.utf8.first == UInt8(ascii: "=") else { continue }
                value = value[value.utf8.index(after: value.startIndex)...]
                while let last = value.utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                    value = value[..<value.utf8.index(before: value.endIndex)]
                }
                if value.utf8.count >= 2, value.utf8.first == UInt8(ascii: "\""), value.utf8.last == UInt8(ascii: "\"")
                {
                    value = value[value.utf8.index(after: value.startIndex)..<value.utf8.index(before: value.endIndex)]
                }
                return value
            }
        }
        return nil
    }

    /// Whether `setCookieHeaders` already contain this cookie (a handler logged in or out).
    /// - Parameter setCookieHeaders: The response's `Set-Cookie` values.
    public func isSet(in setCookieHeaders: some Sequence<String>) -> Bool {
        setCookieHeaders.contains { $0.hasPrefix(self.name + "=") }
    }
}
