import Testing

@testable import RedisCache

@Suite("Single flight and fill signals")
struct CoalescingTests {
    struct Failure: Error, Equatable {}

    /// Starts `count` callers of `flight.run("k")` while the leader is held at `gate`, and returns their results.
    static func concurrentRuns(
        _ count: Int,
        flight: SingleFlight<Int>,
        work: @escaping @Sendable () async throws -> SingleFlight<Int>.Outcome
    ) async -> [Result<Int, any Error>] {
        await withTaskGroup(of: Result<Int, any Error>.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do { return .success(try await flight.run("k", work)) } catch { return .failure(error) }
                }
            }
            var results: [Result<Int, any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    @Test("concurrent callers of one key share one run; other keys run on their own")
    func coalesces() async throws {
        let flight = SingleFlight<Int>()
        let runs = Counter()
        let joined = Counter()
        let gate = Gate()
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    (try? await flight.run("k", onJoin: { joined.increment() }) {
                        runs.increment()
                        await gate.wait()
                        return .init(value: 7, shareable: true)
                    }) ?? -1
                }
            }
            _ = await eventually { joined.value == 99 }
            let other = try? await flight.run("other") { .init(value: 8, shareable: true) }
            #expect(other == 8)
            gate.open()
            var results: [Int] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results == Array(repeating: 7, count: 100))
        #expect(runs.value == 1)
        #expect(flight.inFlight == 0)
    }

    @Test("followers of an unshareable outcome run once more, in a new flight, and take its outcome")
    func unshareable() async throws {
        let flight = SingleFlight<Int>()
        let runs = Counter()
        let joined = Counter()
        let firstRun = Gate()
        let secondRun = Gate()
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    (try? await flight.run("k", onJoin: { joined.increment() }) {
                        let run = runs.increment()
                        await (run == 1 ? firstRun : secondRun).wait()
                        return .init(value: run, shareable: false)
                    }) ?? -1
                }
            }
            _ = await eventually { joined.value == 19 }
            firstRun.open()
            // The 19 followers come back: one leads the second flight, 18 join it.
            _ = await eventually { joined.value == 19 + 18 }
            secondRun.open()
            var results: [Int] = []
            for await result in group { results.append(result) }
            return results
        }
        // The leader keeps its own value; the followers take the second flight's, though it is not shareable
        // either: that flight started after they arrived.
        #expect(results.count { $0 == 1 } == 1)
        #expect(results.count { $0 == 2 } == 19)
        #expect(runs.value == 2)
    }

    @Test("a leader's error is every follower's error")
    func errorsShared() async {
        let flight = SingleFlight<Int>()
        let gate = Gate()
        let started = Counter()
        async let results = Self.concurrentRuns(10, flight: flight) {
            started.increment()
            await gate.wait()
            throw Failure()
        }
        _ = await eventually { started.value == 1 && flight.inFlight == 1 }
        try? await Task.sleep(for: .milliseconds(50))
        gate.open()
        let all = await results
        #expect(all.allSatisfy { if case .failure(let error) = $0 { error is Failure } else { false } })
        #expect(started.value == 1)
    }

    @Test("a cancelled follower leaves at once; the flight goes on for the others")
    func followerCancelled() async throws {
        let flight = SingleFlight<Int>()
        let gate = Gate()
        let joined = Counter()
        let leader = Task {
            try await flight.run("k") {
                await gate.wait()
                return .init(value: 1, shareable: true)
            }
        }
        _ = await eventually { flight.inFlight == 1 }
        let follower = Task {
            try await flight.run("k", onJoin: { joined.increment() }) {
                .init(value: 2, shareable: true)
            }
        }
        _ = await eventually { joined.value == 1 }
        follower.cancel()
        await #expect(throws: CancellationError.self) { try await follower.value }
        gate.open()
        #expect(try await leader.value == 1)
    }

    @Test("an announcement between arming and waiting is not lost; without one the wait times out")
    func signals() async {
        let signals = FillSignals()
        let ticket = signals.arm("k")
        signals.signal("k")
        #expect(await signals.wait(ticket, upTo: .seconds(30)))
        let quiet = signals.arm("k")
        #expect(!(await signals.wait(quiet, upTo: .milliseconds(20))))
        #expect(signals.armedCount == 0)

        let waiting = signals.arm("k")
        async let woken = signals.wait(waiting, upTo: .seconds(30))
        _ = await eventually { true }
        try? await Task.sleep(for: .milliseconds(20))
        signals.signal("other")
        signals.signal("k")
        #expect(await woken)
        #expect(signals.armedCount == 0)
    }
}
