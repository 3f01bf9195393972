import Foundation
import NIOCore
import Testing

@testable import RedisCache

@Suite("Entries, keys and time arithmetic")
struct EntryAndKeyTests {
    @Test("an entry header round-trips with its payload, for values and for not-found")
    func headerRoundTrip() throws {
        for negative in [false, true] {
            let header = CacheEntryHeader(
                epoch: "0123456789abcdef0123456789abcdef",
                isNegative: negative,
                expiresAtMilliseconds: 1_767_225_600_123,
                loadMilliseconds: 42
            )
            var buffer = ByteBuffer()
            header.write(to: &buffer)
            if !negative { buffer.writeString("{\"a\":\"line\\nbreak\"}\n") }
            let (parsed, payload) = try #require(CacheEntryHeader.parse(buffer))
            #expect(parsed == header)
            #expect(String(buffer: payload) == (negative ? "" : "{\"a\":\"line\\nbreak\"}\n"))
        }
    }

    @Test(
        "anything else is not an entry",
        arguments: [
            "", "hello", "C1;", "C1;e;v;1\n", "C1;e;x;1;2\n", "C1;;v;1;2\n", "C1;e;v;soon;2\n", "C1;e;v;1;-2\n",
            "C2;e;v;1;2\n", "C1;e;n;1;2\npayload", String(repeating: "x", count: 300),
        ]
    )
    func notAnEntry(text: String) {
        #expect(CacheEntryHeader.parse(ByteBuffer(string: text)) == nil)
    }

    @Test("an entry and its lease share a cluster slot; the namespace epoch has its own")
    func slots() {
        let layout = CacheKeyLayout(prefix: "cache:", namespace: "products")
        for key in ["0b5c4b1e-7d1f-4c55-9f4e-000000000004", "page:1:size:20", "", "with}brace", "{x}", "ü"] {
            let entry = layout.entry(key)
            #expect(clusterSlot(entry) == clusterSlot(layout.lease(ofEntry: entry)), "\(key)")
        }
        #expect(layout.entry("a") == "cache:{products:a}")
        #expect(layout.epoch == "cache:{products}:epoch")
        // Different keys spread over the cluster instead of piling onto the namespace's slot.
        let slots = Set((0..<100).map { clusterSlot(layout.entry("\($0)")) })
        #expect(slots.count > 50)
    }

    @Test("the scan pattern escapes glob characters of the prefix and matches only its namespace")
    func scanPattern() {
        let layout = CacheKeyLayout(prefix: "a*b?[c]\\:", namespace: "ns")
        #expect(layout.scanPattern == "a\\*b\\?\\[c\\]\\\\:{ns:*")
    }

    @Test("prefixes and namespaces that would break the key layout are refused")
    func validation() {
        #expect(CacheKeyLayout.isValidNamespace("products.v2_list-1"))
        for bad in ["", "a:b", "a{b", "a}b", "a b", String(repeating: "n", count: 65), "é"] {
            #expect(!CacheKeyLayout.isValidNamespace(bad), "\(bad)")
        }
        #expect(CacheKeyLayout.isValidPrefix(""))
        #expect(CacheKeyLayout.isValidPrefix("app:cache:"))
        #expect(!CacheKeyLayout.isValidPrefix("app:{cache}:"))
    }

    @Test("jitter keeps every TTL within ± the fraction, and spreads them")
    func jitter() {
        let ttl = Duration.seconds(100)
        #expect(CacheTime.jittered(ttl, by: 0.1, unit: -1) == .seconds(90))
        #expect(CacheTime.jittered(ttl, by: 0.1, unit: 1) == .seconds(110))
        #expect(CacheTime.jittered(ttl, by: 0, unit: 1) == ttl)
        let samples = (0..<1000).map { _ in CacheTime.jittered(ttl, by: 0.1) }
        #expect(samples.allSatisfy { $0 >= .seconds(90) && $0 <= .seconds(110) })
        #expect(Set(samples).count > 100)
        #expect(CacheTime.jittered(.milliseconds(1), by: 0.5, unit: -1) == .milliseconds(1))
    }

    @Test("early refresh (XFetch): never when beta is 0, more likely as expiry nears and for slow loads")
    func xfetch() {
        #expect(!CacheTime.shouldRefreshEarly(now: 0, expiresAt: 1, loadMilliseconds: 1000, beta: 0, unit: 1e-9))
        // u = e^-1 gives a gap of exactly load × beta.
        let u = exp(-1.0)
        #expect(CacheTime.shouldRefreshEarly(now: 900, expiresAt: 1000, loadMilliseconds: 100, beta: 1, unit: u))
        #expect(!CacheTime.shouldRefreshEarly(now: 899, expiresAt: 1000, loadMilliseconds: 100, beta: 1, unit: u))
        #expect(CacheTime.shouldRefreshEarly(now: 800, expiresAt: 1000, loadMilliseconds: 100, beta: 2, unit: u))
        #expect(CacheTime.shouldRefreshEarly(now: 1000, expiresAt: 1000, loadMilliseconds: 0, beta: 1, unit: 1))
        func rate(now: Int64, load: Int64) -> Int {
            (0..<10_000).count { _ in
                CacheTime.shouldRefreshEarly(now: now, expiresAt: 10_000, loadMilliseconds: load, beta: 1)
            }
        }
        #expect(rate(now: 0, load: 10) == 0)
        #expect(rate(now: 9_990, load: 10) > rate(now: 9_950, load: 10))
        #expect(rate(now: 9_950, load: 50) > rate(now: 9_950, load: 10))
    }

    @Test("durations convert to whole milliseconds, rounding up only where asked")
    func milliseconds() {
        #expect(Duration.microseconds(1).roundedUpMilliseconds == 1)
        #expect(Duration.milliseconds(1500).roundedUpMilliseconds == 1500)
        #expect(Duration.microseconds(1500).milliseconds == 1)
        #expect(Duration.seconds(2).milliseconds == 2000)
    }
}
