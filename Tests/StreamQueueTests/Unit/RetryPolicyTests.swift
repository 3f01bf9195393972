import StreamQueue
import Testing

@Suite struct RetryPolicyTests {
    @Test func delaysStayBetweenTheFloorAndAnExponentialCeiling() {
        let policy = RetryPolicy(
            maxAttempts: 10,
            initialDelay: .milliseconds(100),
            maximumDelay: .seconds(2),
            minimumDelay: .milliseconds(30)
        )
        #expect(policy.ceiling(after: 1) == .milliseconds(100))
        #expect(policy.ceiling(after: 2) == .milliseconds(200))
        #expect(policy.ceiling(after: 4) == .milliseconds(800))
        #expect(policy.ceiling(after: 6) == .seconds(2))
        #expect(policy.ceiling(after: 1000) == .seconds(2))
        var generator = SplitMix(seed: 7)
        for attempt in 1...12 {
            for _ in 0..<200 {
                let delay = policy.delay(after: attempt, using: &generator)
                #expect(delay >= .milliseconds(30))
                #expect(delay <= policy.ceiling(after: attempt))
            }
        }
    }

    @Test func jitterSpreadsTheDelays() {
        let policy = RetryPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(10), minimumDelay: .zero)
        var generator = SplitMix(seed: 1)
        let delays = Set((0..<100).map { _ in policy.delay(after: 3, using: &generator) })
        #expect(delays.count > 50)
    }

    @Test func theFloorWinsOverASmallCeiling() {
        let policy = RetryPolicy(
            initialDelay: .milliseconds(10),
            maximumDelay: .milliseconds(20),
            minimumDelay: .milliseconds(50)
        )
        var generator = SplitMix(seed: 3)
        #expect(policy.delay(after: 1, using: &generator) == .milliseconds(50))
        #expect(policy.ceiling(after: 5) == .milliseconds(50))
    }

    @Test func attemptsAreBounded() {
        let policy = RetryPolicy(maxAttempts: 3)
        #expect(policy.allowsRetry(after: 1))
        #expect(policy.allowsRetry(after: 2))
        #expect(!policy.allowsRetry(after: 3))
        #expect(RetryPolicy(maxAttempts: 0).maxAttempts == 1)
    }
}

/// SplitMix64, so the property checks are reproducible.
struct SplitMix: RandomNumberGenerator {
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
