// No imports on purpose: this file is the whole parser of an unauthenticated header, so a libFuzzer target can
// compile it alone (`WebhookSignatureHeader.parse(bytes:)` is the entry point).

/// The parsed `X-Signature` header of a payment webhook: `t=<unix seconds>,v1=<64 hex digits>[,v1=...]`.
///
/// Parsing is a pure function of the bytes: it allocates at most ``maxCandidates`` candidates of 32 bytes,
/// reads each byte at most a few times, never traps and never calls into anything but the standard library.
/// Everything that costs work per candidate (the HMAC) happens after parsing succeeded, so the bounds here bound
/// the work an unauthenticated request can cause:
///
/// - the header has at most ``maxLength`` bytes (checked before anything else);
/// - at most ``maxCandidates`` `v1` values (the sixth is refused without being read);
/// - exactly one `t`, 1–10 decimal digits, at most ``maxTimestamp`` (no sign, no overflow);
/// - every `v1` is exactly 64 hex digits (a SHA-256 MAC);
/// - parts are separated by `,`, may have spaces or tabs around them and around `=`; empty parts are skipped;
///   parts with other names (`v0=...`) are ignored; a part without `=` is malformed.
public struct WebhookSignatureHeader: Sendable, Equatable {
    /// Why a header was refused.
    public enum Problem: Error, Sendable, Equatable {
        /// Not of the form `t=...,v1=...`.
        case malformed
        /// Longer than ``WebhookSignatureHeader/maxLength`` bytes.
        case tooLong
        /// More than ``WebhookSignatureHeader/maxCandidates`` `v1` values.
        case tooManyCandidates
    }

    /// The most bytes a header may have.
    public static let maxLength = 1024
    /// The most `v1` values a header may carry (providers send one, two while they rotate their secret).
    public static let maxCandidates = 5
    /// The bytes of one MAC (HMAC-SHA256).
    public static let macLength = 32
    /// The latest timestamp accepted (2100-01-01T00:00:00Z); later ones are malformed.
    public static let maxTimestamp: Int64 = 4_102_444_800

    /// The signed time, in seconds since 1970.
    public let timestamp: Int64
    /// The `v1` MACs, 1 to ``maxCandidates`` of ``macLength`` bytes each, in header order.
    public let candidates: [[UInt8]]

    /// Parses a header given as text.
    /// - Parameter header: The `X-Signature` value.
    /// - Throws: ``Problem``.
    public static func parse(_ header: String) throws(Problem) -> WebhookSignatureHeader {
        try self.parse(bytes: header.utf8)
    }

    /// Parses a header given as bytes (the fuzzing entry point: any bytes at all).
    /// - Parameter bytes: The `X-Signature` value.
    /// - Throws: ``Problem``.
    public static func parse(bytes: some Collection<UInt8>) throws(Problem) -> WebhookSignatureHeader {
        // The length first, before copying or splitting anything.
        var length = 0
        for _ in bytes {
            length += 1
            if length > Self.maxLength { throw .tooLong }
        }
        let header = Array(bytes)
        var timestamp: Int64?
        var candidates: [[UInt8]] = []
        var start = 0
        while start <= header.count {
            var end = start
            while end < header.count && header[end] != UInt8(ascii: ",") { end += 1 }
            try self.parsePart(header[start..<end], timestamp: &timestamp, candidates: &candidates)
            start = end + 1
        }
        guard let timestamp, !candidates.isEmpty else { throw .malformed }
        return WebhookSignatureHeader(timestamp: timestamp, candidates: candidates)
    }

    private static func parsePart(
        _ part: ArraySlice<UInt8>,
        timestamp: inout Int64?,
        candidates: inout [[UInt8]]
    ) throws(Problem) {
        let trimmed = self.trimmed(part)
        if trimmed.isEmpty { return }
        guard let equals = trimmed.firstIndex(of: UInt8(ascii: "=")) else { throw .malformed }
        let name = self.trimmed(trimmed[trimmed.startIndex..<equals])
        let value = self.trimmed(trimmed[(equals + 1)..<trimmed.endIndex])
        if name.elementsEqual("t".utf8) {
            guard timestamp == nil, let seconds = self.seconds(value) else { throw .malformed }
            timestamp = seconds
        } else if name.elementsEqual("v1".utf8) {
            guard candidates.count < Self.maxCandidates else { throw .tooManyCandidates }
            guard let mac = self.mac(value) else { throw .malformed }
            candidates.append(mac)
        }
    }

    /// 1–10 ASCII digits, at most ``maxTimestamp``.
    private static func seconds(_ digits: ArraySlice<UInt8>) -> Int64? {
        guard (1...10).contains(digits.count) else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value <= Self.maxTimestamp ? value : nil
    }

    /// Exactly `2 × macLength` hex digits, either case.
    private static func mac(_ hex: ArraySlice<UInt8>) -> [UInt8]? {
        guard hex.count == Self.macLength * 2 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.macLength)
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let high = self.nibble(hex[index]), let low = self.nibble(hex[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            slice = slice.dropFirst()
        }
        while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            slice = slice.dropLast()
        }
        return slice
    }
}
