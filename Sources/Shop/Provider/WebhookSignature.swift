import Crypto
import Synchronization

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The payment provider's webhook signature: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
/// `"<t>.<body>"` with the shared secret (`PAYMENT_WEBHOOK_SECRET`).
///
/// Verifying costs one HMAC over the body whatever the header holds: the header is parsed first by
/// ``WebhookSignatureHeader`` (at most 1024 bytes and 5 `v1` values, or refused before any hashing), the MAC is
/// computed once, and each candidate is compared with it in constant time.
public struct WebhookSignature: Sendable {
    /// Why a signature was refused.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// No `X-Signature` header, or not of the form `t=...,v1=...`.
        case malformed
        /// The header is longer than ``WebhookSignatureHeader/maxLength`` bytes.
        case tooLong
        /// The header has more than ``WebhookSignatureHeader/maxCandidates`` `v1` values.
        case tooManyCandidates
        /// The timestamp is further from now than the tolerance.
        case stale
        /// No `v1` value matches the body and secret.
        case mismatch

        public var description: String {
            switch self {
            case .malformed: "the X-Signature header is missing or malformed"
            case .tooLong:
                "the X-Signature header is longer than \(WebhookSignatureHeader.maxLength) bytes"
            case .tooManyCandidates:
                "the X-Signature header has more than \(WebhookSignatureHeader.maxCandidates) v1 signatures"
            case .stale: "the signature's timestamp is too old or in the future"
            case .mismatch: "the signature does not match the body"
            }
        }

        init(_ problem: WebhookSignatureHeader.Problem) {
            switch problem {
            case .malformed: self = .malformed
            case .tooLong: self = .tooLong
            case .tooManyCandidates: self = .tooManyCandidates
            }
        }
    }

    private let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: self.secret) }
    /// How far the timestamp may be from now.
    public let tolerance: Duration
    private let counters = Counters()

    /// Creates a signer/verifier.
    /// - Parameters:
    ///   - secret: The shared secret.
    ///   - tolerance: How far the timestamp may be from now (5 minutes).
    public init(secret: String, tolerance: Duration = .seconds(300)) {
        self.secret = Array(secret.utf8)
        self.tolerance = tolerance
    }

    /// Parses an `X-Signature` header without verifying anything (see ``WebhookSignatureHeader``).
    /// - Parameter header: The header value.
    /// - Throws: ``Failure`` `.malformed`, `.tooLong` or `.tooManyCandidates`.
    public static func parse(header: String) throws(Failure) -> WebhookSignatureHeader {
        do {
            return try WebhookSignatureHeader.parse(header)
        } catch {
            throw Failure(error)
        }
    }

    /// The header value for `body` signed at `time`.
    public func header(for body: [UInt8], at time: Date = Date()) -> String {
        let timestamp = Int64(time.timeIntervalSince1970)
        return "t=\(timestamp),v1=\(self.mac(body, timestamp: timestamp).hex)"
    }

    /// Checks a header against `body`: parsed and bounded first, then one HMAC, compared with every candidate in
    /// constant time.
    /// - Throws: ``Failure``.
    public func verify(_ header: String?, body: [UInt8], now: Date = Date()) throws(Failure) {
        guard let header else { throw .malformed }
        let parsed = try Self.parse(header: header)
        let age = abs(Int64(now.timeIntervalSince1970) - parsed.timestamp)
        guard age <= self.tolerance.components.seconds else { throw .stale }
        let expected = self.mac(body, timestamp: parsed.timestamp)
        var matched = false
        for candidate in parsed.candidates where Self.constantTimeEquals(expected, candidate) {
            matched = true
        }
        guard matched else { throw .mismatch }
    }

    /// How many MACs this value computed (signing and verifying); tests count them.
    var macComputations: Int { self.counters.macs.load(ordering: .relaxed) }

    private func mac(_ body: [UInt8], timestamp: Int64) -> [UInt8] {
        self.counters.macs.add(1, ordering: .relaxed)
        var signed = Array("\(timestamp).".utf8)
        signed.append(contentsOf: body)
        return Array(HMAC<SHA256>.authenticationCode(for: signed, using: self.key))
    }

    /// Equal length and bytes, looking at every byte whatever the first difference.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private final class Counters: Sendable {
        let macs = Atomic<Int>(0)
    }
}
