import Foundation
import Logging
import RedisClient
import RedisLock
import ServiceLifecycle
import Testing

@testable import Scheduler

/// Runs each instance's scheduler in a task; cancels them and closes the clients afterwards.
func withRunning<T: Sendable>(
    _ instances: [SchedulerInstance],
    _ body: @Sendable ([Task<Void, any Error>]) async throws -> T
) async throws -> T {
    let tasks = instances.map { instance in Task { try await instance.scheduler.run() } }
    do {
        let result = try await body(tasks)
        for task in tasks { task.cancel() }
        for instance in instances { await instance.client.shutdown() }
        return result
    } catch {
        for task in tasks { task.cancel() }
        for instance in instances { await instance.client.shutdown() }
        throw error
    }
}

@Suite("Scheduler across instances")
struct SchedulerTests {
    /// A client for reading what the demo processes recorded, closed afterwards.
    func withObserver<T: Sendable>(_ body: (RedisClient) async throws -> T) async throws -> T {
        let client = RedisClient(
            configuration: try SchedulerTestSupport.redisConfiguration(),
            logger: Logger(label: "observer")
        )
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Runs per tick, and the ticks in order.
    static func perTick(_ runs: [DemoRun]) -> (counts: [Int64: Int], ticks: [Int64]) {
        let counts = Dictionary(grouping: runs, by: \.tick).mapValues(\.count)
        return (counts, counts.keys.sorted())
    }

    @Test func threeProcessesRunEachOfThirtyTicksExactlyOnce() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let nodes = try ["a", "b", "c"].map { try DemoProcess(instance: $0, prefix: prefix) }
        try await withObserver { observer in
            try await withDemoProcesses(nodes) {
                try await SchedulerTestSupport.eventually(within: .seconds(90), "33 ticks ran") {
                    Self.perTick(try await DemoRun.all(observer, prefix: prefix)).ticks.count >= 33
                }
            }
            let runs = try await DemoRun.all(observer, prefix: prefix)
            // The first tick may have been cut short by start-up and the last by the kill: judge the ones between.
            let (counts, ticks) = Self.perTick(runs)
            let judged = ticks.dropFirst().dropLast()
            #expect(judged.count >= 31)
            for tick in judged {
                #expect(counts[tick] == 1, "tick \(tick) ran \(counts[tick] ?? 0) times")
            }
            for (earlier, later) in zip(judged, judged.dropFirst()) {
                #expect(later - earlier == 1000, "a tick between \(earlier) and \(later) did not run")
            }
            #expect(Set(runs.map(\.instance)).isSubset(of: ["a", "b", "c"]))
        }
    }

    @Test func aKilledHoldersLockFreesAfterLockAtMostForAndLaterTicksRunElsewhere() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let settings = ["LOCK_AT_MOST_FOR_MS": "2000", "LOCK_AT_LEAST_FOR_MS": "0"]
        // Instance a's first run never finishes: it holds the job (renewing its lease) until it is killed.
        let a = try DemoProcess(instance: "a", prefix: prefix, environment: settings.merging(["HANG": "1"]) { $1 })
        try await withObserver { observer in
            try await withDemoProcesses([a]) {
                try await SchedulerTestSupport.eventually(within: .seconds(20), "instance a started its run") {
                    !(try await DemoRun.all(observer, prefix: prefix)).isEmpty
                }
                let b = try DemoProcess(instance: "b", prefix: prefix, environment: settings)
                let c = try DemoProcess(instance: "c", prefix: prefix, environment: settings)
                try await withDemoProcesses([b, c]) {
                    // While a lives, b and c find the job held at every tick.
                    try await Task.sleep(for: .milliseconds(2_500))
                    #expect(try await DemoRun.all(observer, prefix: prefix).allSatisfy { $0.instance == "a" })
                    // Taken before asking: the server read the TTL at or after this instant, so the lease ends no
                    // earlier than `readAt + ttl`.
                    let readAt = Int64(Date().timeIntervalSince1970 * 1000)
                    let ttl = try await observer.send(RedisCommand("PTTL", key: "\(prefix)lock:{job:demo}")).decode(
                        as: Int.self
                    )
                    #expect(ttl > 0, "a holds the lock")
                    a.kill()
                    try await SchedulerTestSupport.eventually(within: .seconds(15), "b or c ran a later tick") {
                        try await DemoRun.all(observer, prefix: prefix).contains { $0.instance != "a" }
                    }
                    let elsewhere = try await DemoRun.all(observer, prefix: prefix).filter { $0.instance != "a" }
                    let first = try #require(elsewhere.min { $0.startedAt < $1.startedAt })
                    // Not before the dead holder's lease could have run out.
                    #expect(first.startedAt >= readAt + Int64(ttl), "started \(first.startedAt - readAt) ms after")
                    try await SchedulerTestSupport.eventually(within: .seconds(15), "later ticks keep running") {
                        try await DemoRun.all(observer, prefix: prefix).filter { $0.instance != "a" }.count >= 3
                    }
                }
            }
            let (counts, _) = Self.perTick(try await DemoRun.all(observer, prefix: prefix))
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func clockSkewBetweenProcessesCausesNoDoubleRun() async throws {
        let prefix = SchedulerTestSupport.prefix()
        // No minimum hold: the tick watermark alone must stop the instance that is behind from repeating a tick
        // that the instance ahead already finished.
        let nodes = try [("behind", "-400"), ("exact", "0"), ("ahead", "400")].map { name, offset in
            try DemoProcess(
                instance: name,
                prefix: prefix,
                environment: ["CLOCK_OFFSET_MS": offset, "LOCK_AT_LEAST_FOR_MS": "0", "WORK_MS": "5"]
            )
        }
        try await withObserver { observer in
            try await withDemoProcesses(nodes) {
                try await SchedulerTestSupport.eventually(within: .seconds(60), "17 ticks ran") {
                    Self.perTick(try await DemoRun.all(observer, prefix: prefix)).ticks.count >= 17
                }
            }
            let (counts, ticks) = Self.perTick(try await DemoRun.all(observer, prefix: prefix))
            let judged = ticks.dropFirst().dropLast()
            for tick in judged {
                #expect(counts[tick] == 1, "tick \(tick) ran \(counts[tick] ?? 0) times")
            }
            for (earlier, later) in zip(judged, judged.dropFirst()) {
                #expect(later - earlier == 1000, "a tick between \(earlier) and \(later) did not run")
            }
        }
    }

    @Test func aTickIsClaimedOnceAndNeverBehindTheWatermark() async throws {
        let instance = try SchedulerInstance(name: "a", prefix: SchedulerTestSupport.prefix(), jobs: [])
        defer { Task { await instance.client.shutdown() } }
        let store = instance.scheduler.store
        let tick = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await store.claim(job: "j", tick: tick) == .claimed)
        #expect(try await store.claim(job: "j", tick: tick) == .taken)
        #expect(try await store.claim(job: "j", tick: tick.addingTimeInterval(-1)) == .taken)
        #expect(try await store.claim(job: "j", tick: tick.addingTimeInterval(1)) == .claimed)
        #expect(try await store.lastClaimedTick(job: "j") == tick.addingTimeInterval(1))
        // Another job has its own watermark.
        #expect(try await store.claim(job: "k", tick: tick) == .claimed)
        // A paused job's tick is claimed (not caught up after the resume) but not to be run.
        try await store.pause(job: "j", by: "ops@example.com", at: tick)
        #expect(try await store.pause(job: "j") == JobPause(by: "ops@example.com", at: tick))
        #expect(try await store.claim(job: "j", tick: tick.addingTimeInterval(2)) == .paused)
        #expect(try await store.lastClaimedTick(job: "j") == tick.addingTimeInterval(2))
        #expect(try await store.resume(job: "j"))
        #expect(try await !store.resume(job: "j"))
        #expect(try await store.pause(job: "j") == nil)
        #expect(try await store.claim(job: "j", tick: tick.addingTimeInterval(3)) == .claimed)
    }
}

@Suite("Scheduler runs")
struct SchedulerRunTests {
    /// A job that never ticks during a test (hourly), so only manual runs and start-up catch-up run it.
    static func hourly(
        _ name: String,
        missedTicks: ScheduledJob.MissedTicks = .skip,
        timeout: Duration? = .seconds(60),
        lockAtLeastFor: Duration = .zero,
        work: @escaping @Sendable (JobContext) async throws -> Void
    ) throws -> ScheduledJob {
        ScheduledJob(
            name,
            schedule: try .every(.seconds(3600)),
            lockAtMostFor: .seconds(10),
            lockAtLeastFor: lockAtLeastFor,
            timeout: timeout,
            missedTicks: missedTicks,
            work: work
        )
    }

    @Test func runOnceCatchesUpTheLatestMissedTickAtStartUp() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let log = RunLog()
        let job = try Self.hourly("catch-up", missedTicks: .runOnce) { await log.record($0) }
        let instance = try SchedulerInstance(name: "a", prefix: prefix, jobs: [job])
        // The fleet last claimed a tick two hours ago (then everything was down).
        let hour = Int64(3_600_000)
        let latestDue = Date().epochMilliseconds / hour * hour
        _ = try await instance.scheduler.store.claim(
            job: "catch-up",
            tick: Date(epochMilliseconds: latestDue - 2 * hour)
        )
        try await withRunning([instance]) { _ in
            try await SchedulerTestSupport.eventually("the missed tick ran") { await log.count == 1 }
        }
        // The latest tick due when the scheduler started: the hour computed above, or the next one when the hour
        // turned meanwhile (then that tick is the latest missed one).
        let latestDueAfter = Date().epochMilliseconds / hour * hour
        let entries = await log.entries
        #expect(
            [[Date(epochMilliseconds: latestDue)], [Date(epochMilliseconds: latestDueAfter)]].contains(
                Array(entries.map(\.tick).prefix(1))
            ),
            "\(entries.map(\.tick))"
        )
    }

    @Test func skipDoesNotCatchUpAndANewJobDoesNotRunAtStartUp() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let log = RunLog()
        let skipping = try Self.hourly("skipping", missedTicks: .skip) { await log.record($0) }
        let fresh = try Self.hourly("fresh", missedTicks: .runOnce) { await log.record($0) }
        let instance = try SchedulerInstance(name: "a", prefix: prefix, jobs: [skipping, fresh])
        let hour = Int64(3_600_000)
        let latestDue = Date().epochMilliseconds / hour * hour
        _ = try await instance.scheduler.store.claim(
            job: "skipping",
            tick: Date(epochMilliseconds: latestDue - 2 * hour)
        )
        try await withRunning([instance]) { _ in
            // Start-up catch-up happens before the first wait; a manual run proves the scheduler is past it.
            try await SchedulerTestSupport.eventually("the scheduler accepts manual runs") {
                (try? await instance.scheduler.runNow("fresh")) != nil
            }
            try await SchedulerTestSupport.eventually("the manual run ran") { await log.count == 1 }
            try await Task.sleep(for: .milliseconds(300))
        }
        let entries = await log.entries
        #expect(entries.count == 1)
        #expect(entries.filter { $0.manual }.count == 1)
    }

    @Test func aRunPastItsTimeoutIsCancelledAndRecorded() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let sawCancellation = RunLog()
        let job = try Self.hourly("slow", timeout: .milliseconds(200)) { context in
            do {
                try await Task.sleep(for: .seconds(60))
            } catch is CancellationError {
                await sawCancellation.record(context)
                throw CancellationError()
            }
        }
        let instance = try SchedulerInstance(name: "a", prefix: prefix, jobs: [job])
        try await withRunning([instance]) { _ in
            try await SchedulerTestSupport.eventually("the scheduler accepts manual runs") {
                (try? await instance.scheduler.runNow("slow")) != nil
            }
            try await SchedulerTestSupport.eventually("the run is recorded") {
                try await !instance.scheduler.history(of: "slow").isEmpty
            }
            let run = try #require(try await instance.scheduler.history(of: "slow").first)
            #expect(run.outcome == .timedOut)
            #expect(run.manual)
            #expect(run.instance == "a")
            #expect(await sawCancellation.count == 1)
        }
    }

    @Test func aPausedJobRunsOnNoInstanceUntilResumedAndItsStatusSaysWhoPausedIt() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let runs = Counter()
        let job = ScheduledJob("pulse", schedule: try .every(.seconds(1)), lockAtMostFor: .seconds(5)) { _ in
            await runs.increment()
        }
        let a = try SchedulerInstance(name: "a", prefix: prefix, jobs: [job])
        let b = try SchedulerInstance(name: "b", prefix: prefix, jobs: [job])
        try await withRunning([a, b]) { _ in
            try await SchedulerTestSupport.eventually(within: .seconds(60), "the job runs") { await runs.value >= 2 }
            try await a.scheduler.pause("pulse", by: "ops@example.com")
            let status = try #require(try await b.scheduler.status().first)
            #expect(status.paused?.by == "ops@example.com")
            // A tick claimed just before the pause may still be running: count once two seconds pass without a run.
            var paused = await runs.value
            while true {
                try await Task.sleep(for: .seconds(2))
                let now = await runs.value
                if now == paused { break }
                paused = now
            }
            // Three more ticks fall due on both instances' clocks; none runs anywhere.
            try await Task.sleep(for: .seconds(3.5))
            #expect(await runs.value == paused)
            await #expect(throws: SchedulerError.unknownJob("nope")) { try await a.scheduler.pause("nope", by: "x") }
            #expect(try await b.scheduler.resume("pulse"))
            #expect(try await !b.scheduler.resume("pulse"))
            #expect(try await a.scheduler.status().first?.paused == nil)
            // The skipped ticks are not caught up: runs start again from the next tick.
            try await SchedulerTestSupport.eventually(within: .seconds(60), "the job runs again") {
                await runs.value > paused
            }
        }
    }

    @Test func aFailingRunIsRecordedWithItsError() async throws {
        struct Boom: Error, CustomStringConvertible {
            var description: String { "the report service answered 502" }
        }
        let job = try Self.hourly("failing") { _ in throw Boom() }
        let instance = try SchedulerInstance(name: "a", prefix: SchedulerTestSupport.prefix(), jobs: [job])
        try await withRunning([instance]) { _ in
            try await SchedulerTestSupport.eventually("the scheduler accepts manual runs") {
                (try? await instance.scheduler.runNow("failing")) != nil
            }
            try await SchedulerTestSupport.eventually("the run is recorded") {
                try await !instance.scheduler.history(of: "failing").isEmpty
            }
            let run = try #require(try await instance.scheduler.history(of: "failing").first)
            #expect(run.outcome == .failed)
            #expect(run.error == "the report service answered 502")
            #expect(run.endedAt != nil)
        }
    }

    @Test func runNowRespectsTheLockAndReportsWhatItCannotDo() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let release = Flag()
        let job = try Self.hourly("manual") { _ in
            // Runs until the test lets it finish.
            while await !release.isSet { try await Task.sleep(for: .milliseconds(10)) }
        }
        let a = try SchedulerInstance(name: "a", prefix: prefix, jobs: [job])
        let b = try SchedulerInstance(name: "b", prefix: prefix, jobs: [job])
        // Not running yet: refused.
        await #expect(throws: SchedulerError.notRunning) { try await a.scheduler.runNow("manual") }
        try await withRunning([a, b]) { _ in
            await #expect(throws: SchedulerError.unknownJob("nope")) { try await a.scheduler.runNow("nope") }
            var started: JobRun?
            try await SchedulerTestSupport.eventually("a starts a manual run") {
                started = try? await a.scheduler.runNow("manual")
                return started != nil
            }
            // Running on a: neither instance may start another run.
            await #expect(throws: SchedulerError.alreadyRunning("manual")) { try await b.scheduler.runNow("manual") }
            await #expect(throws: SchedulerError.alreadyRunning("manual")) { try await a.scheduler.runNow("manual") }
            let status = try await b.scheduler.status()
            #expect(status.first?.current?.runID == started?.runID)
            #expect(status.first?.current?.instance == "a")
            // Let it finish; then b may run it.
            await release.set()
            try await SchedulerTestSupport.eventually("b can run it after a finished") {
                (try? await b.scheduler.runNow("manual")) != nil
            }
            try await SchedulerTestSupport.eventually("both runs are recorded") {
                try await b.scheduler.history(of: "manual").count == 2
            }
            let history = try await a.scheduler.history(of: "manual")
            #expect(history.map(\.instance) == ["b", "a"])
            #expect(history.allSatisfy { $0.outcome == .succeeded && $0.manual })
            #expect(try await a.scheduler.status().first?.current == nil)
        }
    }

    @Test func lockAtLeastForKeepsTheJobTakenAfterAQuickScheduledRunButNotAfterAManualOne() async throws {
        let prefix = SchedulerTestSupport.prefix()
        // One scheduled run: the start-up catch-up of an hourly job whose last tick is two hours old.
        // 10 s: the check below must come before it ends even when a loaded run takes seconds to record the run.
        let quick = try Self.hourly("quick", missedTicks: .runOnce, lockAtLeastFor: .seconds(10)) { _ in }
        let a = try SchedulerInstance(name: "a", prefix: prefix, jobs: [quick])
        let hour = Int64(3_600_000)
        let latestDue = Date().epochMilliseconds / hour * hour
        _ = try await a.scheduler.store.claim(job: "quick", tick: Date(epochMilliseconds: latestDue - 2 * hour))
        let lockKey = "\(prefix)lock:{job:quick}"
        try await withRunning([a]) { _ in
            try await SchedulerTestSupport.eventually("the scheduled run is recorded") {
                try await a.scheduler.history(of: "quick").count == 1
            }
            // Recorded after the work finished; the lock is still taken until 10 s after the start.
            let ttl = try await a.client.send(RedisCommand("PTTL", key: lockKey)).decode(as: Int.self)
            #expect(ttl > 0 && ttl <= 10_000, "PTTL \(ttl)")
            await #expect(throws: SchedulerError.alreadyRunning("quick")) { try await a.scheduler.runNow("quick") }
        }
        // A manual run releases the lock as soon as it finishes.
        let manual = try Self.hourly("manual-quick", lockAtLeastFor: .seconds(3)) { _ in }
        let b = try SchedulerInstance(name: "b", prefix: prefix, jobs: [manual])
        try await withRunning([b]) { _ in
            try await SchedulerTestSupport.eventually("b runs it") {
                (try? await b.scheduler.runNow("manual-quick")) != nil
            }
            try await SchedulerTestSupport.eventually("the run is recorded") {
                try await b.scheduler.history(of: "manual-quick").count == 1
            }
            let exists = try await b.client.send(RedisCommand("EXISTS", key: "\(prefix)lock:{job:manual-quick}"))
            #expect(try exists.decode(as: Int.self) == 0)
            #expect((try? await b.scheduler.runNow("manual-quick")) != nil)
        }
    }

    @Test func historyIsBoundedAndPrunable() async throws {
        let prefix = SchedulerTestSupport.prefix()
        let job = try Self.hourly("bounded") { _ in }
        let instance = try SchedulerInstance(name: "a", prefix: prefix, jobs: [job]) { $0.historyLimit = 3 }
        try await withRunning([instance]) { _ in
            for round in 1...5 {
                try await SchedulerTestSupport.eventually("run \(round) starts") {
                    (try? await instance.scheduler.runNow("bounded")) != nil
                }
                try await SchedulerTestSupport.eventually("run \(round) is recorded") {
                    let recorded = try await instance.scheduler.history(of: "bounded").count
                    let current = try await instance.scheduler.status().first?.current
                    return recorded == min(round, 3) && current == nil
                }
            }
            #expect(try await instance.scheduler.history(of: "bounded").count == 3)
            #expect(try await instance.scheduler.pruneHistory(endedBefore: Date().addingTimeInterval(-3600)) == 0)
            #expect(try await instance.scheduler.pruneHistory(endedBefore: Date().addingTimeInterval(1)) == 3)
            #expect(try await instance.scheduler.history(of: "bounded").isEmpty)
        }
    }

    @Test func gracefulShutdownLetsARunningJobFinish() async throws {
        let log = RunLog()
        let job = try Self.hourly("finishing") { context in
            try await Task.sleep(for: .milliseconds(500))
            await log.record(context)
        }
        let instance = try SchedulerInstance(name: "a", prefix: SchedulerTestSupport.prefix(), jobs: [job]) {
            $0.shutdownGracePeriod = .seconds(30)
        }
        let group = ServiceGroup(services: [instance.scheduler], logger: Logger(label: "group"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await SchedulerTestSupport.eventually("the run starts") {
                (try? await instance.scheduler.runNow("finishing")) != nil
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // run() returned only after the job finished and was recorded.
        #expect(await log.count == 1)
        let history = try await instance.scheduler.history(of: "finishing")
        #expect(history.map(\.outcome) == [.succeeded])
        await #expect(throws: SchedulerError.notRunning) { try await instance.scheduler.runNow("finishing") }
        await instance.client.shutdown()
    }

    @Test func gracefulShutdownCancelsARunPastTheGracePeriod() async throws {
        let job = try Self.hourly("stuck") { _ in try await Task.sleep(for: .seconds(120)) }
        let instance = try SchedulerInstance(name: "a", prefix: SchedulerTestSupport.prefix(), jobs: [job]) {
            $0.shutdownGracePeriod = .milliseconds(200)
        }
        let group = ServiceGroup(services: [instance.scheduler], logger: Logger(label: "group"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await SchedulerTestSupport.eventually("the run starts") {
                (try? await instance.scheduler.runNow("stuck")) != nil
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let history = try await instance.scheduler.history(of: "stuck")
        #expect(history.map(\.outcome) == [.interrupted])
        #expect(history.first?.error == "cancelled: shutdown grace period over")
        await instance.client.shutdown()
    }

    @Test func invalidJobsAreRefusedAtStart() throws {
        let every = try Schedule.every(.seconds(1))
        let client = RedisClient(
            configuration: try SchedulerTestSupport.redisConfiguration(),
            logger: Logger(label: "x")
        )
        let locks = RedisLocks(client: client, logger: Logger(label: "x"))
        func make(_ jobs: [ScheduledJob]) throws {
            _ = try Scheduler(jobs: jobs, client: client, locks: locks, logger: Logger(label: "x"))
        }
        #expect(
            throws: SchedulerError.invalidJob(
                "a: lockAtLeastFor (1.0 seconds) must be shorter than the interval (1.0 seconds)"
            )
        ) {
            try make([ScheduledJob("a", schedule: every, lockAtLeastFor: .seconds(1)) { _ in }])
        }
        #expect(throws: SchedulerError.invalidJob("name \"bad name\" must be 1-100 of A-Z a-z 0-9 . _ : -")) {
            try make([ScheduledJob("bad name", schedule: every) { _ in }])
        }
        #expect(throws: SchedulerError.duplicateJob("a")) {
            try make([ScheduledJob("a", schedule: every) { _ in }, ScheduledJob("a", schedule: every) { _ in }])
        }
        #expect(throws: SchedulerError.invalidJob("a: timeout must be positive")) {
            try make([ScheduledJob("a", schedule: every, timeout: .zero) { _ in }])
        }
        Task { await client.shutdown() }
    }
}
