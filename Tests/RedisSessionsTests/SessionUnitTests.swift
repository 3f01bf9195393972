import Crypto
import Foundation
import Hummingbird
import RedisSessions
import Testing

@Suite("Session ids, timing rules, cookies (no server)")
struct SessionUnitTests {
    @Test("a new id is 43 base64url characters, and ids differ")
    func idFormat() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = SessionID.random()
            #expect(id.cookieValue.count == 43)
            #expect(id.cookieValue.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            #expect(!id.cookieValue.contains("="))
            seen.insert(id.cookieValue)
        }
        #expect(seen.count == 1000)
    }

    @Test("ids carry 256 bits: every byte value shows up, each position varies")
    func idRandomness() throws {
        // Decode the base64url text and look at the bytes: over 2,000 ids every byte position takes many
        // values and the bytes cover (nearly) all 256 values, which a short or biased source would not.
        var positions = [Set<UInt8>](repeating: [], count: 32)
        var all = Set<UInt8>()
        for _ in 0..<2000 {
            let text =
                SessionID.random().cookieValue.replacingOccurrences(of: "-", with: "+")
                .replacingOccurrences(of: "_", with: "/") + "="
            let bytes = try #require(Data(base64Encoded: text))
            #expect(bytes.count == 32)
            for (index, byte) in bytes.enumerated() {
                positions[index].insert(byte)
                all.insert(byte)
            }
        }
        #expect(all.count == 256)
        for values in positions { #expect(values.count > 200) }
    }

    @Test("a seeded generator gives the documented encoding")
    func seededEncoding() {
        var generator = FixedGenerator(words: [0x0706_0504_0302_0100, 0x0F0E_0D0C_0B0A_0908, 0xFFFF_FFFF_FFFF_FFFF, 0])
        let id = SessionID.random(using: &generator)
        // bytes 00 01 .. 0f, ff x8, 00 x8 in base64url, unpadded.
        let bytes = Data(
            (0..<16).map { UInt8($0) } + [UInt8](repeating: 0xFF, count: 8) + [UInt8](repeating: 0, count: 8)
        )
        let expected = bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(id.cookieValue == expected)
        #expect(id.cookieValue.contains("_"))
    }

    @Test("the storage hash is the SHA-256 of the id, the handle its first 16 hex digits")
    func storageHash() {
        let id = SessionID.random()
        let expected = SHA256.hash(data: Array(id.cookieValue.utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(id.storageHash == expected)
        #expect(id.handle == String(expected.prefix(16)))
        #expect(SessionID.isValidHandle(id.handle))
        #expect(!id.storageHash.contains(id.cookieValue))
    }

    @Test("descriptions never show the id")
    func redacted() {
        let id = SessionID.random()
        #expect("\(id)" == "SessionID(redacted)")
        #expect(String(reflecting: id).contains(id.cookieValue) == false)
    }

    @Test(
        "cookie values that cannot be ids are refused",
        arguments: [
            "", "short", String(repeating: "a", count: 42), String(repeating: "a", count: 44),
            String(repeating: "a", count: 42) + "=", String(repeating: "a", count: 42) + "+",
            String(repeating: "a", count: 42) + "/", String(repeating: "a", count: 42) + "é",
        ]
    )
    func malformed(value: String) {
        #expect(SessionID(cookieValue: value) == nil)
    }

    @Test("a well-formed value round-trips")
    func roundTrip() {
        let id = SessionID.random()
        #expect(SessionID(cookieValue: id.cookieValue) == id)
    }

    @Test("handles are exactly 16 lowercase hex digits")
    func handles() {
        #expect(SessionID.isValidHandle("0123456789abcdef"))
        #expect(!SessionID.isValidHandle("0123456789ABCDEF"))
        #expect(!SessionID.isValidHandle("0123456789abcde"))
        #expect(!SessionID.isValidHandle("0123456789abcdefa"))
        #expect(!SessionID.isValidHandle("0123456789abcdeg"))
    }

    @Test("the TTL is the idle timeout, capped by the absolute deadline")
    func ttl() {
        let lifetime = SessionLifetime(
            RedisSessionConfiguration(
                idleTimeout: .seconds(30),
                absoluteLifetime: .seconds(100),
                touchInterval: .seconds(5)
            )
        )
        #expect(lifetime.deadline(createdAt: 1_000) == 101_000)
        #expect(lifetime.ttl(now: 1_000, deadline: 101_000) == 30_000)
        #expect(lifetime.ttl(now: 71_000, deadline: 101_000) == 30_000)
        #expect(lifetime.ttl(now: 80_000, deadline: 101_000) == 21_000)
        #expect(lifetime.ttl(now: 100_999, deadline: 101_000) == 1)
        #expect(lifetime.ttl(now: 101_000, deadline: 101_000) == nil)
        #expect(lifetime.ttl(now: 200_000, deadline: 101_000) == nil)
    }

    @Test("touches are throttled to the touch interval")
    func touch() {
        let lifetime = SessionLifetime(
            RedisSessionConfiguration(
                idleTimeout: .seconds(30),
                absoluteLifetime: .seconds(100),
                touchInterval: .seconds(5)
            )
        )
        #expect(!lifetime.shouldTouch(now: 4_999, lastSeen: 0))
        #expect(lifetime.shouldTouch(now: 5_000, lastSeen: 0))
        let always = SessionLifetime(
            RedisSessionConfiguration(idleTimeout: .seconds(30), absoluteLifetime: .seconds(100), touchInterval: .zero)
        )
        #expect(always.shouldTouch(now: 0, lastSeen: 0))
    }

    @Test("durations become whole milliseconds, rounded up")
    func milliseconds() {
        let lifetime = SessionLifetime(
            RedisSessionConfiguration(
                idleTimeout: .microseconds(1500),
                absoluteLifetime: .milliseconds(250),
                touchInterval: .nanoseconds(1)
            )
        )
        #expect(lifetime.idleMilliseconds == 2)
        #expect(lifetime.lifetimeMilliseconds == 250)
        #expect(lifetime.touchMilliseconds == 1)
    }

    @Test(
        "invalid configurations are refused",
        arguments: [
            RedisSessionConfiguration(keyPrefix: "a{b}"),
            RedisSessionConfiguration(idleTimeout: .zero),
            RedisSessionConfiguration(absoluteLifetime: .zero),
            RedisSessionConfiguration(idleTimeout: .seconds(10), touchInterval: .seconds(10)),
            RedisSessionConfiguration(touchInterval: .seconds(-1)),
        ]
    )
    func invalidConfiguration(configuration: RedisSessionConfiguration) {
        #expect(throws: SessionStoreError.self) { try configuration.validate() }
    }

    @Test("the default configuration is valid")
    func defaultConfiguration() throws {
        try RedisSessionConfiguration().validate()
    }

    @Test("Set-Cookie carries every attribute, in a fixed order")
    func setCookie() {
        let now = Date(timeIntervalSince1970: 1_000)
        let session = Session(
            id: SessionID.random(),
            value: Cart(items: []),
            userID: nil,
            createdAt: now,
            lastSeenAt: now,
            expiresAt: now.addingTimeInterval(3600.4),
            client: SessionClient(userAgent: "", address: "")
        )
        let plain = SessionCookie(name: "sid", secure: false)
        #expect(
            plain.setCookieValue(for: session, now: now)
                == "sid=\(session.id.cookieValue); Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
        )
        let secure = SessionCookie(name: "__Host-sid", secure: true)
        #expect(
            secure.setCookieValue(for: session, now: now)
                == "__Host-sid=\(session.id.cookieValue); Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure"
        )
        #expect(plain.expiredSetCookieValue == "sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }

    @Test("the cookie is found among others, in any Cookie header")
    func cookieParsing() {
        let cookie = SessionCookie(name: "sid", secure: false)
        #expect(cookie.value(in: ["a=1; sid=abc; b=2"]) == "abc")
        #expect(cookie.value(in: ["a=1", "sid=\"q\""]) == "q")
        #expect(cookie.value(in: ["xsid=1; sidx=2"]) == nil)
        #expect(cookie.value(in: ["sid=first; sid=second"]) == "first")
        #expect(cookie.value(in: []) == nil)
        #expect(cookie.isSet(in: ["other=1", "sid=abc; Path=/"]))
        #expect(!cookie.isSet(in: ["xsid=abc"]))
    }

    @Test("the default JSON codec round-trips a value")
    func jsonCodec() throws {
        let codec = SessionValueCodec<Cart>.json
        let cart = Cart(items: ["a", "b\"c"], role: "admin")
        let text = try codec.encode(cart)
        #expect(try Array(text.utf8).withUnsafeBytes { try codec.decode($0) } == cart)
        #expect(throws: (any Error).self) { try Array("{".utf8).withUnsafeBytes { try codec.decode($0) } }
    }

    @Test("cookie parsing tolerates spaces, tabs and empty pairs")
    func cookieParsingEdges() {
        let cookie = SessionCookie(name: "sid", secure: false)
        #expect(cookie.value(in: [";;  sid=v1 ;x=1"]) == "v1")
        #expect(cookie.value(in: ["\tsid=\tv2\t"]) == "\tv2")
        #expect(cookie.value(in: ["sid"]) == nil)
        #expect(cookie.value(in: ["sid="]) == "")
        #expect(cookie.value(in: ["si=1; sid2=2"]) == nil)
    }

    @Test("user agents are cut to 256 characters")
    func userAgentLimit() {
        #expect(SessionClient(userAgent: String(repeating: "x", count: 1000), address: "").userAgent.count == 256)
    }
}

@Suite("Cross-site request policy (no server)")
struct CrossSitePolicyTests {
    let policy = CrossSiteRequestPolicy(trustedOrigins: ["https://app.example.com"])

    @Test("safe methods are always allowed")
    func safeMethods() {
        for method in [HTTPRequest.Method.get, .head, .options] {
            #expect(
                self.policy.evaluate(
                    method: method,
                    origin: "https://evil.test",
                    fetchSite: "cross-site",
                    host: "shop.test"
                ) == .allow
            )
        }
    }

    @Test(
        "Sec-Fetch-Site decides when present",
        arguments: [
            ("same-origin", true), ("none", true), ("cross-site", false), ("same-site", false), ("SAME-ORIGIN", true),
        ]
    )
    func fetchSite(value: String, allowed: Bool) {
        let outcome = self.policy.evaluate(method: .post, origin: nil, fetchSite: value, host: "shop.test")
        #expect((outcome == .allow) == allowed)
    }

    @Test(
        "without Sec-Fetch-Site, Origin must be the Host",
        arguments: [
            ("http://shop.test", "shop.test", true),
            ("https://shop.test", "shop.test", true),
            ("http://shop.test:8080", "shop.test:8080", true),
            ("http://shop.test", "shop.test:80", true),
            ("https://shop.test:443", "shop.test", true),
            ("http://SHOP.test:8080", "shop.TEST:8080", true),
            ("http://shop.test:8081", "shop.test:8080", false),
            ("http://evil.test", "shop.test", false),
            ("http://shop.test.evil.test", "shop.test", false),
            ("null", "shop.test", false),
            ("file://x", "shop.test", false),
        ]
    )
    func origin(origin: String, host: String, allowed: Bool) {
        let outcome = self.policy.evaluate(method: .delete, origin: origin, fetchSite: nil, host: host)
        #expect((outcome == .allow) == allowed)
    }

    @Test("trusted origins pass even when the browser says cross-site")
    func trusted() {
        #expect(
            self.policy.evaluate(
                method: .post,
                origin: "https://APP.example.com",
                fetchSite: "same-site",
                host: "api.example.com"
            )
                == .allow
        )
    }

    @Test("a request with neither header (curl, servers) passes; no Host with an Origin does not")
    func nonBrowser() {
        #expect(self.policy.evaluate(method: .post, origin: nil, fetchSite: nil, host: "shop.test") == .allow)
        #expect(self.policy.evaluate(method: .post, origin: "http://shop.test", fetchSite: nil, host: nil) != .allow)
    }
}

/// Returns the given words in turn.
struct FixedGenerator: RandomNumberGenerator {
    var words: [UInt64]
    var index = 0

    mutating func next() -> UInt64 {
        defer { self.index = (self.index + 1) % self.words.count }
        return self.words[self.index]
    }
}
