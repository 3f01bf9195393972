import Resilience
import Testing

@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test func backoffGrowsExponentiallyAndIsCapped() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(1), jitter: .none)
        let caps = (1...7).map { policy.backoffCap(forRetry: $0) }
        #expect(
            caps == [100, 200, 400, 800, 1000, 1000, 1000].map { Duration.milliseconds($0) }
        )
        var generator = SeededGenerator(seed: 1)
        for retry in 1...7 {
            #expect(policy.delay(forRetry: retry, using: &generator) == caps[retry - 1])
        }
    }

    @Test func aFractionalMultiplierGrowsTooAndHugeRetryNumbersStayAtTheCap() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), multiplier: 1.5, maxDelay: .seconds(30))
        #expect(policy.backoffCap(forRetry: 2) == .milliseconds(150))
        #expect(policy.backoffCap(forRetry: 3) == .milliseconds(225))
        #expect(policy.backoffCap(forRetry: 1_000_000) == .seconds(30))
    }

    @Test func fullJitterStaysWithinTheCapAndSpreads() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(2))
        var generator = SeededGenerator(seed: 42)
        for retry in 1...8 {
            let cap = policy.backoffCap(forRetry: retry)
            let delays = (0..<200).map { _ in policy.delay(forRetry: retry, using: &generator) }
            #expect(delays.allSatisfy { $0 >= .zero && $0 <= cap }, "retry \(retry)")
            #expect(Set(delays).count > 150, "retry \(retry): delays are not spread")
            // Full jitter is uniform over [0, cap]: both halves get a fair share.
            let lowerHalf = delays.filter { $0 < cap / 2 }.count
            #expect((60...140).contains(lowerHalf), "retry \(retry): \(lowerHalf) of 200 in the lower half")
        }
    }

    @Test func theSameSeedGivesTheSameDelays() {
        let policy = RetryPolicy()
        var first = SeededGenerator(seed: 7)
        var second = SeededGenerator(seed: 7)
        let a = (1...5).map { policy.delay(forRetry: $0, using: &first) }
        let b = (1...5).map { policy.delay(forRetry: $0, using: &second) }
        #expect(a == b)
    }

    @Test func theStandardClassifierTrustsRetryableErrorsOnly() {
        let unavailable = RetryClassification.standard(
            ProviderError(status: 503, retryAfter: .seconds(2), wasNotProcessed: true)
        )
        #expect(unavailable == .retry(after: .seconds(2), wasNotProcessed: true))
        #expect(RetryClassification.standard(ProviderError.notFound) == .doNotRetry)
        #expect(RetryClassification.standard(OpaqueError()) == .doNotRetry)
        #expect(RetryClassification.standard(CancellationError()) == .doNotRetry)
        #expect(
            RetryClassification.standard(ResilienceError.attemptTimedOut("p", timeout: .seconds(1), attempt: 1))
                == .retry()
        )
        #expect(RetryClassification.standard(ResilienceError.circuitOpen("p", retryAfter: nil)) == .doNotRetry)
    }
}
