import Tracing

extension RedisLocks {
    /// Runs `body` under `held`, with the watchdog, then releases the lease (or keeps it until `holdAtLeast`).
    ///
    /// The watchdog is two tasks beside the body. The renewer renews the lease on ``WatchdogPlan``'s schedule,
    /// each attempt bounded by the time the lease has left. The expiry guard gives the lease up the moment its
    /// validity ends (``LeaseValidity``) — whatever the renewer is doing: failing fast, waiting for a reply
    /// that does not come, or waiting for a connection. Either one's ``RedisLockError/leaseLost(_:)`` ends the
    /// group, which cancels the body.
    func hold<Result: Sendable>(
        _ held: RedisLockLease,
        lease: Duration,
        holdAtLeast: Duration = .zero,
        _ body: @escaping @Sendable (RedisLockLease) async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        let span = LockTracing.start("hold", lock: held.name)
        span?.attributes["lock.fencing_token"] = Int(held.fencingToken)
        defer {
            self.metrics.held(ContinuousClock.now - start)
            span?.end()
        }
        let outcome: Swift.Result<Result, any Error>
        do {
            let value = try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask { try await body(held) }
                group.addTask {
                    try await self.renew(held, lease: lease)
                    return nil
                }
                group.addTask {
                    try await Self.giveUpWhenExpired(held)
                    return nil
                }
                // The body's value, or the watchdog's lease-lost error (the group then cancels the body).
                while let next = try await group.next() {
                    if let value = next {
                        group.cancelAll()
                        return value
                    }
                }
                throw RedisLockError.leaseLost(held.name)
            }
            outcome = .success(value)
        } catch {
            outcome = .failure(error)
        }
        // Release even when the body failed or the lease was given up (a renewal still on its way may yet
        // extend it); a release that finds the lease gone is reported, not thrown, when the body itself
        // succeeded (its effects already happened).
        do {
            let released: Bool
            let remainingHold = holdAtLeast - (ContinuousClock.now - held.acquiredAt)
            if remainingHold >= .milliseconds(1) {
                // Keep it taken until the minimum hold ends; it then expires without a release notice.
                released = (try? await held.extend(by: remainingHold)) != nil
            } else {
                released = try await held.release()
            }
            if !released, case .success = outcome {
                self.metrics.leaseLost()
                self.logger.warning("lock lease expired before release", metadata: ["lock": "\(held.name)"])
            }
        } catch {
            self.logger.warning(
                "lock release failed; the lease will expire",
                metadata: ["lock": "\(held.name)", "error": "\(error)"]
            )
        }
        if case .failure(let error) = outcome, (error as? RedisLockError)?.isLeaseLost == true {
            self.metrics.leaseLost()
            span?.recordError(error)
        }
        return try outcome.get()
    }

    /// Renews the lease until cancelled; throws ``RedisLockError/leaseLost(_:)`` when a renewal finds it taken
    /// over or expired. Returns when its validity has run out (the expiry guard then gives it up).
    private func renew(_ held: RedisLockLease, lease: Duration) async throws {
        let plan = WatchdogPlan(lease: lease, configuration: self.configuration)
        var next = plan.nextAttempt(afterRenewalSentAt: held.confirmedSentAt, validUntil: held.validUntil)
        while true {
            try await Task.sleep(until: next, clock: .continuous)
            let timeout = plan.attemptTimeout(
                at: .now,
                validUntil: held.validUntil,
                commandTimeout: self.client.configuration.commandTimeout
            )
            guard let timeout else { return }
            do {
                try await held.renew(to: lease, timeout: timeout)
                next = plan.nextAttempt(afterRenewalSentAt: held.confirmedSentAt, validUntil: held.validUntil)
            } catch is RedisLockError {
                throw RedisLockError.leaseLost(held.name)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // Redis unreachable, or no reply in time: try again soon, while the lease is still valid.
                self.logger.debug(
                    "lock renewal failed; retrying",
                    metadata: ["lock": "\(held.name)", "error": "\(error)"]
                )
                next = plan.nextAttempt(afterFailureAt: .now)
            }
        }
    }

    /// Gives the lease up, and throws ``RedisLockError/leaseLost(_:)``, the moment its validity runs out.
    private static func giveUpWhenExpired(_ held: RedisLockLease) async throws {
        while let validUntil = held.giveUpIfExpired() {
            try await Task.sleep(until: validUntil, clock: .continuous)
        }
        throw RedisLockError.leaseLost(held.name)
    }
}
