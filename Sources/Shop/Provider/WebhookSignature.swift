import Crypto

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The payment provider's webhook signature: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
/// `"<t>.<body>"` with the shared secret (`PAYMENT_WEBHOOK_SECRET`).
public struct WebhookSignature: Sendable {
    /// Why a signature was refused.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// No `X-Signature` header, or not of the form `t=...,v1=...`.
        case malformed
        /// The timestamp is further from now than the tolerance.
        case stale
        /// No `v1` value matches the body and secret.
        case mismatch

        public var description: String {
            switch self {
            case .malformed: "the X-Signature header is missing or malformed"
            case .stale: "the signature's timestamp is too old or in the future"
            case .mismatch: "the signature does not match the body"
            }
        }
    }

    private let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: self.secret) }
    /// How far the timestamp may be from now.
    public let tolerance: Duration

    /// Creates a signer/verifier.
    /// - Parameters:
    ///   - secret: The shared secret.
    ///   - tolerance: How far the timestamp may be from now (5 minutes).
    public init(secret: String, tolerance: Duration = .seconds(300)) {
        self.secret = Array(secret.utf8)
        self.tolerance = tolerance
    }

    /// The header value for `body` signed at `time`.
    public func header(for body: [UInt8], at time: Date = Date()) -> String {
        let timestamp = Int64(time.timeIntervalSince1970)
        return "t=\(timestamp),v1=\(self.mac(body, timestamp: timestamp).hex)"
    }

    /// Checks a header against `body`, in constant time for the comparison.
    /// - Throws: ``Failure``.
    public func verify(_ header: String?, body: [UInt8], now: Date = Date()) throws(Failure) {
        guard let header else { throw .malformed }
        var timestamp: Int64?
        var candidates: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw .malformed }
            let name = pair[0].trimmingCharacters(in: .whitespaces)
            let value = pair[1].trimmingCharacters(in: .whitespaces)
            switch name {
            case "t": timestamp = Int64(value)
            case "v1":
                guard let bytes = [UInt8](hex: value) else { throw .malformed }
                candidates.append(bytes)
            default: continue
            }
        }
        // Timestamps far outside any plausible range are refused before any arithmetic on them.
        guard let timestamp, (0...4_102_444_800).contains(timestamp), !candidates.isEmpty else { throw .malformed }
        let age = abs(Int64(now.timeIntervalSince1970) - timestamp)
        guard age <= self.tolerance.components.seconds else { throw .stale }
        var signed = Array("\(timestamp).".utf8)
        signed.append(contentsOf: body)
        for candidate in candidates
        where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: signed, using: self.key) {
            return
        }
        throw .mismatch
    }

    private func mac(_ body: [UInt8], timestamp: Int64) -> [UInt8] {
        var signed = Array("\(timestamp).".utf8)
        signed.append(contentsOf: body)
        return Array(HMAC<SHA256>.authenticationCode(for: signed, using: self.key))
    }
}

extension Array where Element == UInt8 {
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(self.count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0, utf8.count <= 256 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}
