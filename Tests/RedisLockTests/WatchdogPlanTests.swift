import Testing

@testable import RedisLock

/// The watchdog's arithmetic — the safety margin, when a lease stops being valid, when to renew and how long
/// an attempt may take — on instants the test makes up: no clock is read, nothing is timed.
@Suite struct WatchdogPlanTests {
    private let start = ContinuousClock.now

    @Test func theDefaultMarginIsATenthOfTheLeasePlusADriftAllowance() {
        var configuration = RedisLockConfiguration()
        // A tenth, plus 1% and 2 ms for clock drift.
        #expect(configuration.safetyMargin(for: .seconds(10)) == .milliseconds(1000 + 100 + 2))
        // At least 5 ms before the drift allowance...
        #expect(configuration.safetyMargin(for: .milliseconds(30)) == .microseconds(5000 + 300 + 2000))
        // ...but never more than half the lease.
        #expect(configuration.safetyMargin(for: .milliseconds(10)) == .milliseconds(5))
        configuration.leaseSafetyMargin = .seconds(2)
        #expect(configuration.safetyMargin(for: .seconds(10)) == .seconds(2))
        #expect(configuration.safetyMargin(for: .seconds(3)) == .milliseconds(1500))
    }

    @Test func aLeaseIsValidFromWhenItsNewestConfirmedRenewalWasSentLessTheMargin() {
        var validity = LeaseValidity(sentAt: self.start, lease: .seconds(10), margin: .seconds(1))
        #expect(validity.validUntil == self.at(9))
        #expect(validity.isValid(at: self.at(8.999)))
        #expect(!validity.isValid(at: self.at(9)))
        // A renewal sent at 3 s: valid until 3 + 10 - 1, however late its reply came.
        validity.renewed(sentAt: self.at(3), lease: .seconds(10), margin: .seconds(1))
        #expect(validity.validUntil == self.at(12))
        // An older renewal whose reply overtook it decides nothing.
        validity.renewed(sentAt: self.at(2), lease: .seconds(10), margin: .seconds(1))
        #expect(validity.validUntil == self.at(12))
        #expect(validity.confirmedSentAt == self.at(3))
    }

    @Test func aLeaseGivenUpStaysGivenUp() {
        var validity = LeaseValidity(sentAt: self.start, lease: .seconds(10), margin: .seconds(1))
        #expect(validity.endIfExpired(at: self.at(8)) == self.at(9))
        #expect(validity.endIfExpired(at: self.at(9)) == nil)
        // A renewal confirmed after that does not bring it back: the body has already been cancelled.
        validity.renewed(sentAt: self.at(8.5), lease: .seconds(10), margin: .seconds(1))
        #expect(!validity.isValid(at: self.at(9.5)))
        #expect(validity.endIfExpired(at: self.at(9.5)) == nil)
    }

    @Test func afterAFailedAttemptTheNextComesSoonerThanTheNextRenewal() {
        var configuration = RedisLockConfiguration()
        configuration.renewInterval = .seconds(2)
        let plan = WatchdogPlan(lease: .seconds(10), configuration: configuration)
        #expect(plan.nextAttempt(afterRenewalSentAt: self.at(1), validUntil: self.at(9.898)) == self.at(3))
        #expect(plan.nextAttempt(afterFailureAt: self.at(3.5)) == self.at(4))
    }

    @Test func aLeaseTakenForLessThanTheWatchdogRenewsToIsRenewedHalfwayThroughIt() {
        // Taken for 2 s (valid until 1.8 s), renewed to 60 s every 20 s: the first renewal comes at 0.9 s.
        let plan = WatchdogPlan(lease: .seconds(60), configuration: RedisLockConfiguration())
        #expect(plan.renewInterval == .seconds(20))
        #expect(plan.nextAttempt(afterRenewalSentAt: self.at(0), validUntil: self.at(1.8)) == self.at(0.9))
    }

    @Test func atLeastTwoRenewalsFitInTheValidity() {
        var configuration = RedisLockConfiguration()
        configuration.renewInterval = .seconds(10)
        configuration.leaseSafetyMargin = .seconds(2)
        let plan = WatchdogPlan(lease: .seconds(10), configuration: configuration)
        #expect(plan.renewInterval == .seconds(4))
        // The default is a third of the lease.
        #expect(WatchdogPlan(lease: .seconds(9), configuration: RedisLockConfiguration()).renewInterval == .seconds(3))
    }

    @Test func anAttemptWaitsForItsReplyOnlyWhileTheLeaseIsValid() {
        let plan = WatchdogPlan(lease: .seconds(10), configuration: RedisLockConfiguration())
        let validUntil = self.at(9)
        #expect(plan.attemptTimeout(at: self.at(7), validUntil: validUntil, commandTimeout: .seconds(5)) == .seconds(2))
        #expect(plan.attemptTimeout(at: self.at(3), validUntil: validUntil, commandTimeout: .seconds(5)) == .seconds(5))
        #expect(plan.attemptTimeout(at: self.at(3), validUntil: validUntil, commandTimeout: nil) == .seconds(6))
        #expect(plan.attemptTimeout(at: self.at(9), validUntil: validUntil, commandTimeout: .seconds(5)) == nil)
    }

    private func at(_ seconds: Double) -> ContinuousClock.Instant {
        self.start.advanced(by: .milliseconds(Int64((seconds * 1000).rounded())))
    }
}
