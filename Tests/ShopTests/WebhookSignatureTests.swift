import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Webhook signatures")
struct WebhookSignatureTests {
    let signature = WebhookSignature(secret: "a-test-secret-of-enough-length")
    let body = Array(#"{"id":"evt_1"}"#.utf8)

    @Test func aSignatureItMadeVerifies() throws {
        try self.signature.verify(self.signature.header(for: self.body), body: self.body)
    }

    @Test(arguments: [
        "t=-9223372036854775808,v1=00", "t=9223372036854775807,v1=00", "t=1,v1=00", "t=,v1=00", "v1=00", "t=1700000000",
        "t=1700000000,v1=zz", "", "garbage", "t=1700000000,v1=" + String(repeating: "a", count: 300),
    ])
    func hostileHeadersAreRefusedWithoutTrapping(_ header: String) {
        #expect(throws: WebhookSignature.Failure.self) { try self.signature.verify(header, body: self.body) }
    }

    @Test func staleFutureAndTamperedAreRefused() {
        let now = Date()
        #expect(throws: WebhookSignature.Failure.stale) {
            try self.signature.verify(
                self.signature.header(for: self.body, at: now.addingTimeInterval(-301)),
                body: self.body,
                now: now
            )
        }
        #expect(throws: WebhookSignature.Failure.stale) {
            try self.signature.verify(
                self.signature.header(for: self.body, at: now.addingTimeInterval(301)),
                body: self.body,
                now: now
            )
        }
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try self.signature.verify(self.signature.header(for: self.body), body: self.body + [32])
        }
        let other = WebhookSignature(secret: "another-secret-of-enough-length")
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try self.signature.verify(other.header(for: self.body), body: self.body)
        }
    }

    /// `n` well-formed `v1` values that do not match, then (when given) the right one.
    func header(wrong count: Int, right: Bool, at date: Date = Date()) -> String {
        let good = self.signature.header(for: self.body, at: date)
        let timestamp = good.split(separator: ",")[0]
        var parts = [String(timestamp)]
        for index in 0..<count { parts.append("v1=" + String(repeating: String(index % 10), count: 64)) }
        if right { parts.append(String(good.split(separator: ",")[1])) }
        return parts.joined(separator: ",")
    }

    @Test func oneMacPerVerificationWhateverTheNumberOfCandidates() throws {
        let rightLast = self.header(wrong: 4, right: true)
        let allWrong = self.header(wrong: 5, right: false)
        let before = self.signature.macComputations
        // The right MAC last of five: still one HMAC over the body.
        try self.signature.verify(rightLast, body: self.body)
        #expect(self.signature.macComputations - before == 1)
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try self.signature.verify(allWrong, body: self.body)
        }
        #expect(self.signature.macComputations - before == 2)
    }

    @Test func tooManyCandidatesOrTooLongAHeaderAreRefusedBeforeAnyMac() throws {
        let six = self.header(wrong: 5, right: true)
        let thousand = self.header(wrong: 999, right: true)
        let before = self.signature.macComputations
        // Six candidates fit in 1024 bytes: refused for their number.
        #expect(six.utf8.count <= WebhookSignatureHeader.maxLength)
        #expect(throws: WebhookSignature.Failure.tooManyCandidates) {
            try self.signature.verify(six, body: self.body)
        }
        // A thousand (68 KB of header) are refused for the length, before they are even split.
        #expect(throws: WebhookSignature.Failure.tooLong) {
            try self.signature.verify(thousand, body: self.body)
        }
        #expect(throws: WebhookSignature.Failure.tooLong) {
            try self.signature.verify(String(repeating: " ", count: 1025), body: self.body)
        }
        #expect(self.signature.macComputations == before, "no HMAC was computed for a refused header")
    }

    @Test func theParserReadsWhatProvidersSendAndNothingElse() throws {
        let mac = String(repeating: "ab", count: 32)
        let parsed = try WebhookSignature.parse(header: " t = 1700000000 ,\tv0=zz, v1=\(mac) ,,v1=\(mac.uppercased())")
        #expect(parsed.timestamp == 1_700_000_000)
        #expect(parsed.candidates == [[UInt8](repeating: 0xAB, count: 32), [UInt8](repeating: 0xAB, count: 32)])
        for header in [
            "t=1700000000,t=1700000001,v1=\(mac)", "t=+1700000000,v1=\(mac)", "t=4102444801,v1=\(mac)",
            "t=1700000000,v1=\(mac)0", "t=1700000000,v1=\(mac.dropLast(2))", "t=1700000000,v1",
            "t=1700000000,v1=\(mac)x",
        ] {
            #expect(throws: WebhookSignature.Failure.malformed, "\(header)") {
                try WebhookSignature.parse(header: header)
            }
        }
    }

    /// What the libFuzzer target will do, in small: arbitrary bytes and mutations of valid headers never trap, and
    /// whatever parses stays within the bounds.
    @Test func theParserNeverTrapsAndKeepsItsBounds() {
        var random = SplitMix64(seed: 0x5EED_2026)
        let valid = Array(self.header(wrong: 2, right: true).utf8)
        let alphabet = Array("tv1=,0123456789abcdefABCDEF \t-+".utf8) + [0, 0xFF, 0xC3]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(random.next() % 200)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            } else {
                bytes = valid
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    let index = Int(random.next() % UInt64(bytes.count + 1))
                    switch random.next() % 3 {
                    case 0 where index < bytes.count: bytes.remove(at: index)
                    case 1 where index < bytes.count: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                    default: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: index)
                    }
                }
            }
            if let parsed = try? WebhookSignatureHeader.parse(bytes: bytes) {
                #expect((1...WebhookSignatureHeader.maxCandidates).contains(parsed.candidates.count))
                #expect(parsed.candidates.allSatisfy { $0.count == WebhookSignatureHeader.macLength })
                #expect((0...WebhookSignatureHeader.maxTimestamp).contains(parsed.timestamp))
            }
        }
    }

    @Test func aWebhookWithAThousandSignaturesIs401WithTheTemplate() async throws {
        let header = self.header(wrong: 1000, right: false)
        try await withTestApp { client in
            let response = try await client.executeRequest(
                uri: "/api/v1/webhooks/payments",
                method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("X-Signature")!: header],
                body: ByteBuffer(bytes: self.body)
            )
            #expect(response.status == .unauthorized)
            let problem = try response.problem()
            #expect(problem.code == "INVALID_SIGNATURE")
            #expect(problem.detail.contains("longer than 1024 bytes"), "\(problem.detail)")
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failure replays.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
