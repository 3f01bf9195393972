// scheduler-demo: the smallest service that runs the Scheduler library — one Redis client, one lock manager,
// one job — configured from the environment. Start several to watch each tick run on exactly one of them; the
// scheduler tests start three as separate processes (and kill one with SIGKILL).
//
//   REDIS_URL             redis://127.0.0.1:6379/0
//   KEY_PREFIX            prefix of every key (required), e.g. demo:scheduler:
//   INSTANCE              this process's name (default: demo-<pid>)
//   INTERVAL_MS           the job's interval (default 1000)
//   WORK_MS               how long each run works (default 30)
//   HANG                  1: the first run on this instance never finishes (it holds the job until killed)
//   CLOCK_OFFSET_MS       this instance's clock runs this far ahead (negative: behind) (default 0)
//   LOCK_AT_MOST_FOR_MS   default 5000
//   LOCK_AT_LEAST_FOR_MS  default 500
//
// Each run appends "<tick ms> <instance> <start ms>" to the list <KEY_PREFIX>runs when it starts.
import Foundation
import Logging
import RedisClient
import RedisLock
import Scheduler
import ServiceLifecycle
import Synchronization

let environment = ProcessInfo.processInfo.environment
func number(_ name: String, _ fallback: Int64) -> Int64 {
    environment[name].flatMap { Int64($0) } ?? fallback
}
guard let prefix = environment["KEY_PREFIX"], !prefix.isEmpty else {
    FileHandle.standardError.write(Data("scheduler-demo: KEY_PREFIX is required\n".utf8))
    exit(2)
}
let instance = environment["INSTANCE"] ?? "demo-\(ProcessInfo.processInfo.processIdentifier)"
var logger = Logger(label: "scheduler-demo")
logger.logLevel = .warning

let redis = RedisClient(
    configuration: try RedisConfiguration(url: environment["REDIS_URL"] ?? "redis://127.0.0.1:6379/0"),
    logger: logger
)
var lockSettings = RedisLockConfiguration()
lockSettings.keyPrefix = prefix + "lock:"
lockSettings.owner = instance
lockSettings.renewInterval = .milliseconds(200)
let locks = RedisLocks(client: redis, configuration: lockSettings, logger: logger)

let hang = environment["HANG"] == "1"
let hung = Mutex(false)
let work = Duration.milliseconds(number("WORK_MS", 30))
let job = ScheduledJob(
    "demo",
    schedule: try .every(.milliseconds(number("INTERVAL_MS", 1000))),
    lockAtMostFor: .milliseconds(number("LOCK_AT_MOST_FOR_MS", 5000)),
    lockAtLeastFor: .milliseconds(number("LOCK_AT_LEAST_FOR_MS", 500)),
    timeout: .seconds(3600)
) { context in
    let started = Int64(Date().timeIntervalSince1970 * 1000)
    let tick = Int64(context.tick.timeIntervalSince1970 * 1000)
    _ = try await redis.send(RedisCommand("RPUSH", key: prefix + "runs", "\(tick) \(instance) \(started)"))
    if hang
        && !hung.withLock({ hung in
            defer { hung = true }
            return hung
        })
    {
        try await Task.sleep(for: .seconds(3600))
    }
    try await Task.sleep(for: work)
}
var settings = SchedulerConfiguration()
settings.keyPrefix = prefix
settings.instance = instance
let scheduler = try Scheduler(
    jobs: [job],
    client: redis,
    locks: locks,
    configuration: settings,
    logger: logger,
    clock: OffsetWallClock(offset: .milliseconds(number("CLOCK_OFFSET_MS", 0)))
)
let group = ServiceGroup(
    configuration: .init(
        services: [.init(service: redis), .init(service: scheduler)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    )
)
try await group.run()
