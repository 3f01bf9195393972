import Configuration
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Jobs configuration")
struct JobsConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults")
    func defaults() throws {
        let jobs = try self.load([:]).jobs
        #expect(jobs == JobsConfiguration())
        #expect(jobs.enabled)
        #expect(jobs.timeZone == "UTC")
        #expect(jobs.cacheRebuildSchedule == "@every 5m")
        #expect(jobs.cacheRebuildTop == 50)
        #expect(jobs.cleanupSchedule == "@every 1h")
        #expect(jobs.dailySalesSchedule == "5 0 * * *")
        #expect(jobs.historyRetention == .seconds(168 * 3600))
        #expect(jobs.shutdownGracePeriod == .seconds(10))
        #expect(jobs.readCountsFlushInterval == .milliseconds(5000))
        #expect(jobs.keyPrefix == "shop:jobs:")
    }

    @Test("every key is read from its environment variable")
    func environment() throws {
        let jobs = try self.load([
            "JOBS_ENABLED": "false",
            "JOBS_TIME_ZONE": "Asia/Seoul",
            "JOBS_CACHE_REBUILD_SCHEDULE": "@every 30s",
            "JOBS_CACHE_REBUILD_TOP": "7",
            "JOBS_CLEANUP_SCHEDULE": "*/10 * * * *",
            "JOBS_DAILY_SALES_SCHEDULE": "@daily",
            "JOBS_HISTORY_RETENTION_HOURS": "2",
            "JOBS_SHUTDOWN_GRACE_SECONDS": "0",
            "JOBS_READ_COUNTS_FLUSH_MS": "100",
            "JOBS_KEY_PREFIX": "app-2:jobs:",
        ]).jobs
        #expect(!jobs.enabled)
        #expect(jobs.timeZone == "Asia/Seoul")
        #expect(jobs.cacheRebuildSchedule == "@every 30s")
        #expect(jobs.cacheRebuildTop == 7)
        #expect(jobs.cleanupSchedule == "*/10 * * * *")
        #expect(jobs.dailySalesSchedule == "@daily")
        #expect(jobs.historyRetention == .seconds(7200))
        #expect(jobs.shutdownGracePeriod == .zero)
        #expect(jobs.readCountsFlushInterval == .milliseconds(100))
        #expect(jobs.keyPrefix == "app-2:jobs:")
    }

    @Test(
        "a bad value is one line naming the key",
        arguments: [
            ("JOBS_ENABLED", "maybe", #"JOBS_ENABLED: "maybe" is not true or false"#),
            (
                "JOBS_TIME_ZONE", "Mars/Olympus",
                #"JOBS_TIME_ZONE: "Mars/Olympus" is not a time zone (an IANA name such as Europe/Berlin)"#
            ),
            (
                "JOBS_CACHE_REBUILD_SCHEDULE", "61 * * * *",
                #"JOBS_CACHE_REBUILD_SCHEDULE: invalid cron expression "61 * * * *": minute value 61 is outside 0-59"#
            ),
            (
                "JOBS_CLEANUP_SCHEDULE", "@every 1d",
                #"JOBS_CLEANUP_SCHEDULE: invalid schedule: "@every 1d": expected @every followed by a number and ms, s, m or h (e.g. @every 30s)"#
            ),
            (
                "JOBS_DAILY_SALES_SCHEDULE", "0 0 30 2 *",
                #"JOBS_DAILY_SALES_SCHEDULE: invalid cron expression "0 0 30 2 *": day-of-month 30 never occurs in the months given"#
            ),
            ("JOBS_CACHE_REBUILD_TOP", "0", #"JOBS_CACHE_REBUILD_TOP: "0" is not an integer from 1 to 10000"#),
            (
                "JOBS_HISTORY_RETENTION_HOURS", "9000",
                #"JOBS_HISTORY_RETENTION_HOURS: "9000" is not an integer from 1 to 8760"#
            ),
            (
                "JOBS_SHUTDOWN_GRACE_SECONDS", "-1",
                #"JOBS_SHUTDOWN_GRACE_SECONDS: "-1" is not an integer from 0 to 3600"#
            ),
            ("JOBS_READ_COUNTS_FLUSH_MS", "5", #"JOBS_READ_COUNTS_FLUSH_MS: "5" is not an integer from 10 to 600000"#),
            (
                "JOBS_KEY_PREFIX", "jobs {x}",
                #"JOBS_KEY_PREFIX: "jobs {x}" is not a key prefix (0-64 characters of A-Z a-z 0-9 : . _ -)"#
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("a cron schedule is checked in the configured time zone")
    func scheduleAndZone() throws {
        // The time zone is validated first; a schedule is then parsed with it.
        let error = #expect(throws: ConfigurationError.self) {
            try self.load(["JOBS_TIME_ZONE": "Nowhere/Land", "JOBS_CLEANUP_SCHEDULE": "0 * * * *"])
        }
        #expect(error?.variable == "JOBS_TIME_ZONE")
    }

    @Test("every jobs key is a key of the service, in operations.md and in the README")
    func documented() throws {
        let operations = try repositoryFile("docs/operations.md")
        let readme = try repositoryFile("README.md")
        for key in ShopConfiguration.Key.jobs {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
    }
}
