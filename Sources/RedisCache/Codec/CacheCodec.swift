public import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Turns cached values into bytes and back.
///
/// The cache stores whatever `encode` writes after a small header of its own. A value that fails to decode
/// (for example after its type changed in a new release) counts as a miss and is replaced by a fresh load.
public protocol CacheCodec<Value>: Sendable {
    /// The type of the cached values.
    associatedtype Value: Sendable

    /// Appends the encoded value to `buffer`.
    /// - Parameters:
    ///   - value: The value.
    ///   - buffer: Where to write it.
    func encode(_ value: Value, into buffer: inout ByteBuffer) throws

    /// Decodes a value from the bytes `encode` wrote.
    /// - Parameter buffer: Exactly the bytes of one encoded value.
    /// - Returns: The value.
    func decode(from buffer: ByteBuffer) throws -> Value
}

/// The default codec: JSON with Foundation's encoder and decoder.
///
/// Dates use the encoder's default strategy on both sides, so they round-trip exactly.
public struct JSONCacheCodec<Value: Codable & Sendable>: CacheCodec {
    /// Creates the codec.
    public init() {}

    public func encode(_ value: Value, into buffer: inout ByteBuffer) throws {
        let data = try JSONEncoder().encode(value)
        buffer.writeBytes(data)
    }

    public func decode(from buffer: ByteBuffer) throws -> Value {
        try buffer.withUnsafeReadableBytes { bytes in
            try JSONDecoder().decode(Value.self, from: Data(bytes))
        }
    }
}

/// A codec for values that are already bytes (pre-rendered JSON, images, protobuf): stored as they are.
public struct ByteBufferCacheCodec: CacheCodec {
    /// Creates the codec.
    public init() {}

    public func encode(_ value: ByteBuffer, into buffer: inout ByteBuffer) throws {
        buffer.writeImmutableBuffer(value)
    }

    public func decode(from buffer: ByteBuffer) throws -> ByteBuffer {
        buffer
    }
}

/// A codec for strings, stored as UTF-8.
public struct StringCacheCodec: CacheCodec {
    /// Creates the codec.
    public init() {}

    public func encode(_ value: String, into buffer: inout ByteBuffer) throws {
        buffer.writeString(value)
    }

    public func decode(from buffer: ByteBuffer) throws -> String {
        String(buffer: buffer)
    }
}
