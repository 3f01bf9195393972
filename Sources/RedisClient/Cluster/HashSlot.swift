/// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
///
/// A hash tag is the part between the first `{` and the next `}` when that part is not empty: `{user:1}:cart` and
/// `{user:1}:orders` share a slot, so one script or transaction may touch both on a cluster.
public struct HashSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// How many slots a cluster has.
    public static let count = 16384

    /// The slot number, 0 to 16383.
    public let rawValue: UInt16

    /// A slot by number.
    /// - Parameter rawValue: 0 to 16383.
    public init?(rawValue: Int) {
        guard (0..<Self.count).contains(rawValue) else { return nil }
        self.rawValue = UInt16(rawValue)
    }

    /// The slot of a key given as text (its UTF-8 bytes are hashed).
    /// - Parameter key: The key.
    public init(key: String) {
        var key = key
        self = key.withUTF8 { Self(keyBytes: $0) }
    }

    /// The slot of a key given as bytes.
    /// - Parameter keyBytes: The key's bytes.
    public init(keyBytes: some Collection<UInt8>) {
        let hashed =
            keyBytes.withContiguousStorageIfAvailable { Self.hashedPart(of: $0) }
            ?? Self.hashedPart(of: Array(keyBytes)[...])
        self.rawValue = hashed
    }

    private static func hashedPart(of bytes: some Collection<UInt8>) -> UInt16 {
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = bytes.index(after: open)
            if let close = bytes[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return crc16(bytes[afterOpen..<close]) & 0x3FFF
            }
        }
        return crc16(bytes) & 0x3FFF
    }

    public static func < (lhs: HashSlot, rhs: HashSlot) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(self.rawValue) }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as the cluster specification defines it.
    static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ Self.table[Int((crc >> 8) ^ UInt16(byte)) & 0xFF]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
