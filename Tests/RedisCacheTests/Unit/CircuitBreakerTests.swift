import Testing

@testable import RedisCache

@Suite("Circuit breaker state machine")
struct CircuitBreakerTests {
    let start = ContinuousClock.now

    @Test("opens after the threshold of consecutive failures, not before")
    func opensAtThreshold() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 3, cooldown: .seconds(2))
        #expect(breaker.decide(now: self.start) == .allow)
        let opened1 = breaker.recordFailure(now: self.start)
        #expect(!opened1)
        let opened2 = breaker.recordFailure(now: self.start)
        #expect(!opened2)
        #expect(breaker.state == .closed)
        let opened3 = breaker.recordFailure(now: self.start)
        #expect(opened3)
        #expect(breaker.state == .open)
        #expect(breaker.openings == 1)
        #expect(breaker.decide(now: self.start.advanced(by: .milliseconds(1999))) == .reject)
    }

    @Test("a success resets the count of consecutive failures")
    func successResets() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 2, cooldown: .seconds(1))
        breaker.recordFailure(now: self.start)
        breaker.recordSuccess()
        breaker.recordFailure(now: self.start)
        #expect(breaker.state == .closed)
        breaker.recordFailure(now: self.start)
        #expect(breaker.state == .open)
    }

    @Test("after the cool-down exactly one probe goes through; its success closes the breaker")
    func probeCloses() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 1, cooldown: .seconds(2))
        breaker.recordFailure(now: self.start)
        let later = self.start.advanced(by: .seconds(2))
        #expect(breaker.decide(now: later) == .probe)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.decide(now: later) == .reject)
        #expect(breaker.decide(now: later.advanced(by: .seconds(10))) == .reject)
        breaker.recordSuccess()
        #expect(breaker.state == .closed)
        #expect(breaker.decide(now: later) == .allow)
    }

    @Test("a failed probe opens it again for a full cool-down")
    func probeFails() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 1, cooldown: .seconds(2))
        breaker.recordFailure(now: self.start)
        let probeTime = self.start.advanced(by: .seconds(3))
        #expect(breaker.decide(now: probeTime) == .probe)
        let opened4 = breaker.recordFailure(now: probeTime)
        #expect(opened4)
        #expect(breaker.openings == 2)
        #expect(breaker.decide(now: probeTime.advanced(by: .seconds(1))) == .reject)
        #expect(breaker.decide(now: probeTime.advanced(by: .seconds(2))) == .probe)
    }

    @Test("late failures of calls that started before it opened do not extend the cool-down")
    func lateFailures() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 1, cooldown: .seconds(2))
        breaker.recordFailure(now: self.start)
        let opened5 = breaker.recordFailure(now: self.start.advanced(by: .seconds(1)))
        #expect(!opened5)
        #expect(breaker.decide(now: self.start.advanced(by: .seconds(2))) == .probe)
    }

    @Test("an abandoned probe lets the next caller probe at once")
    func abandonedProbe() {
        var breaker = CircuitBreakerStateMachine(failureThreshold: 1, cooldown: .seconds(2))
        breaker.recordFailure(now: self.start)
        let later = self.start.advanced(by: .seconds(2))
        #expect(breaker.decide(now: later) == .probe)
        breaker.abandonProbe(now: later)
        #expect(breaker.decide(now: later) == .probe)
    }
}
