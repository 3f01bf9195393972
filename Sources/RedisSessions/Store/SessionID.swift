import Crypto

/// A session identifier: 256 bits from the system's CSPRNG, written as 43 characters of unpadded base64url.
///
/// The identifier is the bearer credential of a session, so it is treated as a secret:
/// - its `description` is `SessionID(redacted)`, so interpolating it into a log line leaks nothing;
/// - Redis never sees it: the store keys a session by ``storageHash``, the SHA-256 of the identifier;
/// - users and APIs see only ``handle``, a short value derived from the hash.
///
/// ```swift
/// let id = SessionID.random()
/// response.headers[.setCookie] = cookie.setCookieValue(for: id, ...)   // id.cookieValue goes to the client
/// let back = SessionID(cookieValue: requestCookie)                      // nil unless well-formed
/// ```
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    /// The 43-character base64url text sent to the client (the cookie value). Keep it out of logs.
    public let cookieValue: String

    private init(validated text: String) {
        self.cookieValue = text
    }

    /// Reads an identifier from a cookie value.
    ///
    /// - Parameter cookieValue: The value the client sent.
    /// - Returns: The identifier, or nil when the text is not 43 characters of the base64url alphabet
    ///   (anything else cannot be an identifier this library issued, so it is never sent to Redis).
    public init?(cookieValue: some StringProtocol) {
        guard cookieValue.utf8.count == Self.encodedLength,
            cookieValue.utf8.allSatisfy(Base64URL.isAlphabet)
        else { return nil }
        self.cookieValue = String(cookieValue)
    }

    /// A new identifier: 32 bytes from `SystemRandomNumberGenerator` (the operating system's CSPRNG).
    public static func random() -> SessionID {
        var generator = SystemRandomNumberGenerator()
        return self.random(using: &generator)
    }

    /// A new identifier from `generator` (tests use a seeded one; production must use a CSPRNG).
    /// - Parameter generator: The source of the 32 random bytes.
    public static func random(using generator: inout some RandomNumberGenerator) -> SessionID {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for _ in 0..<(Self.byteCount / 8) {
            withUnsafeBytes(of: (generator.next() as UInt64).littleEndian) { bytes.append(contentsOf: $0) }
        }
        return SessionID(validated: Base64URL.encode(bytes))
    }

    /// The lowercase hex SHA-256 of ``cookieValue``: the name Redis knows the session by.
    ///
    /// Someone who can list or dump Redis sees only these hashes, which cannot be turned back into a
    /// usable identifier.
    public var storageHash: String {
        Hex.encode(SHA256.hash(data: Array(self.cookieValue.utf8)))
    }

    /// The public handle of the session: the first 16 hex digits of ``storageHash``.
    ///
    /// Safe to show to the session's owner and to use in URLs (`DELETE /me/sessions/{handle}`): it is not a
    /// credential, and the store resolves it only within one user's own sessions.
    public var handle: String {
        Self.handle(forStorageHash: self.storageHash)
    }

    /// `SessionID(redacted)`: the identifier itself is never printed.
    public var description: String { "SessionID(redacted)" }

    /// How many random bytes an identifier has (256 bits).
    public static let byteCount = 32
    /// The length of ``cookieValue``: 32 bytes in unpadded base64url.
    public static let encodedLength = 43
    /// The length of a ``handle``.
    public static let handleLength = 16

    static func handle(forStorageHash hash: some StringProtocol) -> String {
        String(hash.prefix(Self.handleLength))
    }

    /// Whether `text` has the shape of a handle (16 lowercase hex digits).
    /// - Parameter text: The candidate, for example a path parameter.
    public static func isValidHandle(_ text: some StringProtocol) -> Bool {
        text.utf8.count == Self.handleLength && text.utf8.allSatisfy(Hex.isLowercaseDigit)
    }
}

/// Unpadded base64url (RFC 4648 §5).
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(Self.alphabet[Int(chunk >> 18 & 63)])
            output.append(Self.alphabet[Int(chunk >> 12 & 63)])
            output.append(Self.alphabet[Int(chunk >> 6 & 63)])
            output.append(Self.alphabet[Int(chunk & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let chunk = UInt32(bytes[index]) << 16
            output.append(Self.alphabet[Int(chunk >> 18 & 63)])
            output.append(Self.alphabet[Int(chunk >> 12 & 63)])
        } else if rest == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output.append(Self.alphabet[Int(chunk >> 18 & 63)])
            output.append(Self.alphabet[Int(chunk >> 12 & 63)])
            output.append(Self.alphabet[Int(chunk >> 6 & 63)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func isAlphabet(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// Lowercase hexadecimal.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        for byte in bytes {
            output.append(Self.digits[Int(byte >> 4)])
            output.append(Self.digits[Int(byte & 15)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func isLowercaseDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
