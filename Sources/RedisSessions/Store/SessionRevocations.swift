/// The messages a ``RedisSessionStore`` publishes on ``RedisSessionConfiguration/revocationChannel`` when it
/// ends sessions: the sessions' storage hashes (``SessionID/storageHash``, 64 lowercase hex digits each),
/// comma-separated. They name sessions only by their hashes, like the keys do; never by their identifiers.
///
/// ```swift
/// listeners.addListener(channel: "app:sessions-revoked") { message in
///     hub.close(sessions: SessionRevocations.storageHashes(in: message.payload.readableBytesView))
/// }
/// ```
public enum SessionRevocations {
    /// The storage hashes one message names; anything that is not a storage hash is skipped.
    /// - Parameter payload: The message's bytes.
    public static func storageHashes(in payload: some Collection<UInt8>) -> [String] {
        var hashes: [String] = []
        var current: [UInt8] = []
        current.reserveCapacity(Self.hashLength)
        func flush() {
            if current.count == Self.hashLength { hashes.append(String(decoding: current, as: UTF8.self)) }
            current.removeAll(keepingCapacity: true)
        }
        var valid = true
        for byte in payload {
            if byte == UInt8(ascii: ",") {
                if valid { flush() }
                current.removeAll(keepingCapacity: true)
                valid = true
            } else if valid, current.count < Self.hashLength, Self.isLowerHex(byte) {
                current.append(byte)
            } else {
                valid = false
            }
        }
        if valid { flush() }
        return hashes
    }

    /// The message naming `hashes`.
    static func message(_ hashes: some Sequence<String>) -> String {
        hashes.joined(separator: ",")
    }

    static let hashLength = 64

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
