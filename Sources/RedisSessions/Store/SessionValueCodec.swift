#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How a ``RedisSessionStore`` turns session values into the text Redis keeps, and back.
///
/// The default, ``json``, works for any `Codable` value. Decoding runs on every request that carries a
/// session, so a service with a small, hot value may supply a hand-written codec (the reference service
/// stores its signed-in user as five tab-separated fields). A codec that cannot decode what it finds
/// throws; the store then deletes that session and reports it as missing.
public struct SessionValueCodec<Value>: Sendable {
    /// Turns a value into text.
    public var encode: @Sendable (Value) throws -> String
    /// Turns stored text (UTF-8 bytes) back into a value.
    public var decode: @Sendable (UnsafeRawBufferPointer) throws -> Value

    /// Creates a codec.
    /// - Parameters:
    ///   - encode: Value to text.
    ///   - decode: UTF-8 bytes of the stored text to value.
    public init(
        encode: @escaping @Sendable (Value) throws -> String,
        decode: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Value
    ) {
        self.encode = encode
        self.decode = decode
    }
}

extension SessionValueCodec where Value: Codable {
    /// JSON through Foundation's `JSONEncoder` and `JSONDecoder` with their default settings.
    public static var json: Self {
        Self(
            encode: { value in String(decoding: try JSONEncoder().encode(value), as: UTF8.self) },
            decode: { bytes in try JSONDecoder().decode(Value.self, from: Data(bytes)) }
        )
    }
}
