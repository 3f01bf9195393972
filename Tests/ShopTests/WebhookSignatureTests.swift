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
}
