import NIOCore

/// One cached entry as stored in Redis: a one-line text header, then the encoded value.
///
/// ```
/// C1;<epoch>;<v|n>;<expiresAtMs>;<loadMs>\n<value bytes>
/// ```
///
/// - `epoch`: the namespace epoch the filler read *before* it loaded; an entry whose epoch is not the current one
///   belongs to an evicted generation of the namespace and is ignored.
/// - `v` for a value, `n` for a cached "not found" (no value bytes).
/// - `expiresAtMs`: the logical expiry (Unix milliseconds). The Redis key itself lives longer by the
///   stale-while-revalidate window, so an expired entry can still be served while one caller refreshes it.
/// - `loadMs`: how long the load took, for probabilistic early refresh (XFetch).
struct CacheEntryHeader: Sendable, Equatable {
    var epoch: String
    var isNegative: Bool
    var expiresAtMilliseconds: Int64
    var loadMilliseconds: Int64

    static let magic = "C1;"
    /// The longest header accepted when decoding (an epoch is at most 64 bytes).
    static let maxHeaderLength = 160

    /// Writes the header and its terminating newline.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeString(Self.magic)
        buffer.writeString(self.epoch)
        buffer.writeString(self.isNegative ? ";n;" : ";v;")
        buffer.writeString(String(self.expiresAtMilliseconds))
        buffer.writeString(";")
        buffer.writeString(String(self.loadMilliseconds))
        buffer.writeString("\n")
    }

    /// Splits a stored entry into its header and the value bytes; nil when it is not an entry of this format.
    static func parse(_ stored: ByteBuffer) -> (header: CacheEntryHeader, payload: ByteBuffer)? {
        let limit = min(stored.readableBytes, Self.maxHeaderLength)
        guard limit > Self.magic.utf8.count,
            let newline = stored.withUnsafeReadableBytes({ bytes in
                bytes.prefix(limit).firstIndex(of: UInt8(ascii: "\n"))
            }),
            let line = stored.getString(at: stored.readerIndex, length: newline),
            line.hasPrefix(Self.magic)
        else { return nil }
        let fields = line.utf8.dropFirst(Self.magic.utf8.count).split(
            separator: UInt8(ascii: ";"),
            omittingEmptySubsequences: false
        )
        guard fields.count == 4, !fields[0].isEmpty,
            let expiresAt = Int64(Substring(fields[2])),
            let load = Int64(Substring(fields[3])), load >= 0
        else { return nil }
        let isNegative: Bool
        switch Substring(fields[1]) {
        case "v": isNegative = false
        case "n": isNegative = true
        default: return nil
        }
        let header = CacheEntryHeader(
            epoch: String(Substring(fields[0])),
            isNegative: isNegative,
            expiresAtMilliseconds: expiresAt,
            loadMilliseconds: load
        )
        let payload = stored.getSlice(
            at: stored.readerIndex + newline + 1,
            length: stored.readableBytes - newline - 1
        )
        guard let payload else { return nil }
        if isNegative && payload.readableBytes != 0 { return nil }
        return (header, payload)
    }
}
