import Testing

@testable import RedisClient

@Suite struct RedisURLTests {
    @Test func parsesFullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:p%40ss%3Aword@cache.local:6380/3")
        #expect(configuration.host == "cache.local")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "p@ss:word")
        #expect(configuration.database == 3)
        #expect(configuration.tls == nil)
        #expect(configuration.description == "redis://alice:***@cache.local:6380/3")
        #expect(!configuration.description.contains("p@ss"))
    }

    @Test func clusterURLsNameTheSeeds() throws {
        let cluster = try RedisConfiguration(url: "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(
            cluster.topology
                == .cluster(seeds: [
                    RedisEndpoint(host: "10.0.0.1", port: 7000), RedisEndpoint(host: "10.0.0.2", port: 6379),
                    RedisEndpoint(host: "::1", port: 7002),
                ])
        )
        #expect(cluster.host == "10.0.0.1" && cluster.port == 7000 && cluster.password == "pw" && cluster.tls == nil)
        #expect(cluster.description == "redis+cluster://:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002")
        let tls = try RedisConfiguration(url: "rediss+cluster://node.local:7000")
        #expect(tls.tls != nil && tls.topology == .cluster(seeds: [RedisEndpoint(host: "node.local", port: 7000)]))
        #expect(try RedisConfiguration(url: "redis://h:1").topology == .standalone)
    }

    @Test func defaultsAndShortForms() throws {
        let plain = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(plain.port == 6379 && plain.database == 0 && plain.password == nil && plain.username == nil)
        let passwordOnly = try RedisConfiguration(url: "redis://secret@localhost/")
        #expect(passwordOnly.password == "secret" && passwordOnly.username == nil)
        let emptyUser = try RedisConfiguration(url: "redis://:secret@localhost:1/0")
        #expect(emptyUser.password == "secret" && emptyUser.username == nil)
        let ipv6 = try RedisConfiguration(url: "rediss://[::1]:7000/2?timeout=1")
        #expect(ipv6.host == "::1" && ipv6.port == 7000 && ipv6.database == 2 && ipv6.tls != nil)
        #expect(ipv6.description == "rediss://[::1]:7000/2")
    }

    @Test(arguments: [
        "http://localhost", "redis://", "redis://host:0", "redis://host:70000", "redis://host:abc",
        "redis://host/x", "redis://host/-1", "redis://u:%zz@host", "redis://[::1", "redis://[::1]x", "redis://ho st",
        "redis://a:1,b:2", "redis+cluster://a:1,,b:2", "redis+cluster://a:1/3", "redis+cluster://a:1,b:x",
    ])
    func rejectsInvalidURLs(url: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            (error as? RedisError)?.code == .invalidConfiguration
        }
    }

    @Test func errorDoesNotEchoThePassword() {
        do {
            _ = try RedisConfiguration(url: "redis://user:supersecret@host:99999")
            Issue.record("should fail")
        } catch {
            #expect(!"\(error)".contains("supersecret"))
        }
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func delayDoublesUpToTheCapWithEqualJitter() {
        let ms: UInt64 = 1_000_000
        #expect(ReconnectBackoff.delay(failures: 1, initial: 50 * ms, max: 2_000 * ms, jitter: 0) == 25 * ms)
        #expect(ReconnectBackoff.delay(failures: 1, initial: 50 * ms, max: 2_000 * ms, jitter: 1) == 50 * ms)
        #expect(ReconnectBackoff.delay(failures: 3, initial: 50 * ms, max: 2_000 * ms, jitter: 1) == 200 * ms)
        #expect(ReconnectBackoff.delay(failures: 10, initial: 50 * ms, max: 2_000 * ms, jitter: 1) == 2_000 * ms)
        #expect(ReconnectBackoff.delay(failures: 500, initial: 50 * ms, max: 2_000 * ms, jitter: 0.5) == 1_500 * ms)
    }

    @Test func refusesDuringTheWindowThenAllowsAndResets() {
        var backoff = ReconnectBackoff(initialDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(backoff.refusal(now: 0) == nil)
        let delay = backoff.recordFailure(RedisError(.connectionUnavailable, "refused"), now: 1_000, jitter: 1)
        #expect(delay == 100_000_000)
        #expect(backoff.refusal(now: 1_000 + delay - 1)?.code == .connectionUnavailable)
        #expect(backoff.refusal(now: 1_000 + delay) == nil)
        backoff.recordSuccess()
        #expect(backoff.consecutiveFailures == 0 && backoff.refusal(now: 1_001) == nil)
    }
}
