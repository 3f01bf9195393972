import Resilience
import Testing

@Suite("ResilienceError")
struct ResilienceErrorTests {
    struct SecretError: Error, CustomStringConvertible {
        var description: String { "token=hunter2" }
    }

    @Test func descriptionsNameThePipelineButNeverTheUnderlyingError() {
        let errors: [ResilienceError] = [
            .deadlineExceeded("rates", timeout: .seconds(5), attempts: 2, underlying: SecretError()),
            .circuitOpen("rates", retryAfter: .milliseconds(1_250), attempts: 1, underlying: SecretError()),
            .circuitOpen("rates", retryAfter: nil),
            .attemptTimedOut("rates", timeout: .milliseconds(300), attempt: 3),
            .bulkheadFull("rates"),
        ]
        #expect(
            errors.map(\.description) == [
                "rates: deadline of 5000ms exceeded after 2 attempt(s)",
                "rates: circuit breaker is open (trial calls in 1250ms)",
                "rates: circuit breaker is half-open and all trial calls are taken",
                "rates: attempt 3 timed out after 300ms",
                "rates: bulkhead is full",
            ]
        )
        #expect(errors.allSatisfy { !"\($0)".contains("hunter2") })
        #expect(
            errors.map(\.code.description) == [
                "deadline_exceeded", "circuit_open", "circuit_open", "attempt_timed_out", "bulkhead_full",
            ]
        )
    }
}
