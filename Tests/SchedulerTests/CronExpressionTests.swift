import Foundation
import Testing

@testable import Scheduler

/// Parses "yyyy-MM-dd HH:mm" on the wall clock of `zone`.
func wallTime(_ text: String, _ zone: String = "UTC") -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: zone)!
    let parts = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" }).map { Int($0)! }
    return calendar.date(
        from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4])
    )!
}

/// Formats an instant as "yyyy-MM-dd HH:mm" (and the weekday) on the wall clock of `zone`.
func wallText(_ date: Date?, _ zone: String = "UTC") -> String {
    guard let date else { return "never" }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: zone)!
    formatter.dateFormat = "yyyy-MM-dd HH:mm EEE"
    return formatter.string(from: date)
}

/// The next `count` firing times after `start`, on the wall clock of `zone`.
func firings(_ expression: String, after start: String, count: Int = 4, zone: String = "UTC") throws -> [String] {
    let cron = try CronExpression(expression)
    var cursor = wallTime(start, zone)
    var result: [String] = []
    for _ in 0..<count {
        guard let next = cron.nextDate(after: cursor, in: TimeZone(identifier: zone)!) else { break }
        result.append(wallText(next, zone))
        cursor = next
    }
    return result
}

@Suite("Cron expressions")
struct CronExpressionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let expression: String
        let start: String
        let expected: [String]
        var testDescription: String { "\"\(self.expression)\" after \(self.start)" }
    }

    static let cases: [Case] = [
        // Every minute, and the search starts strictly after the given instant.
        Case(
            expression: "* * * * *",
            start: "2026-03-01 10:00",
            expected: ["2026-03-01 10:01 Sun", "2026-03-01 10:02 Sun", "2026-03-01 10:03 Sun"]
        ),
        // Steps over the whole field and over a range; a list mixing values and ranges.
        Case(
            expression: "*/15 * * * *",
            start: "2026-03-01 10:50",
            expected: ["2026-03-01 11:00 Sun", "2026-03-01 11:15 Sun", "2026-03-01 11:30 Sun"]
        ),
        Case(
            expression: "10-30/10 8 * * *",
            start: "2026-03-01 08:15",
            expected: ["2026-03-01 08:20 Sun", "2026-03-01 08:30 Sun", "2026-03-02 08:10 Mon"]
        ),
        Case(
            expression: "0 1,3-4,22 * * *",
            start: "2026-03-01 00:00",
            expected: ["2026-03-01 01:00 Sun", "2026-03-01 03:00 Sun", "2026-03-01 04:00 Sun", "2026-03-01 22:00 Sun"]
        ),
        // `a/n` runs from a to the end of the field.
        Case(
            expression: "50/5 0 * * *",
            start: "2026-03-01 00:00",
            expected: ["2026-03-01 00:50 Sun", "2026-03-01 00:55 Sun", "2026-03-02 00:50 Mon"]
        ),
        // Weekdays by number and by name; 7 is Sunday too.
        Case(
            expression: "30 9 * * 1-5",
            start: "2026-03-06 10:00",
            expected: ["2026-03-09 09:30 Mon", "2026-03-10 09:30 Tue", "2026-03-11 09:30 Wed"]
        ),
        Case(
            expression: "0 12 * * sat,SUN",
            start: "2026-03-02 00:00",
            expected: ["2026-03-07 12:00 Sat", "2026-03-08 12:00 Sun", "2026-03-14 12:00 Sat"]
        ),
        Case(
            expression: "0 0 * * 7",
            start: "2026-03-02 00:00",
            expected: ["2026-03-08 00:00 Sun", "2026-03-15 00:00 Sun"]
        ),
        // Both day fields restricted: either matches (the 13th, and every Friday).
        Case(
            expression: "0 0 13 * 5",
            start: "2026-03-01 00:00",
            expected: ["2026-03-06 00:00 Fri", "2026-03-13 00:00 Fri", "2026-03-20 00:00 Fri", "2026-03-27 00:00 Fri"]
        ),
        Case(
            expression: "0 0 14 * 5",
            start: "2026-03-01 00:00",
            expected: ["2026-03-06 00:00 Fri", "2026-03-13 00:00 Fri", "2026-03-14 00:00 Sat", "2026-03-20 00:00 Fri"]
        ),
        // Month ends: the 31st only in months that have one; months by name.
        Case(
            expression: "0 0 31 * *",
            start: "2026-01-31 12:00",
            expected: ["2026-03-31 00:00 Tue", "2026-05-31 00:00 Sun", "2026-07-31 00:00 Fri", "2026-08-31 00:00 Mon"]
        ),
        Case(
            expression: "0 0 30 jan-mar *",
            start: "2026-01-01 00:00",
            expected: ["2026-01-30 00:00 Fri", "2026-03-30 00:00 Mon", "2027-01-30 00:00 Sat"]
        ),
        // February the 29th: leap years only.
        Case(
            expression: "0 6 29 2 *",
            start: "2026-01-01 00:00",
            expected: ["2028-02-29 06:00 Tue", "2032-02-29 06:00 Sun"]
        ),
        // The last minute of the year rolls into the next.
        Case(
            expression: "59 23 31 12 *",
            start: "2026-12-31 23:59",
            expected: ["2027-12-31 23:59 Fri"]
        ),
        // Macros.
        Case(
            expression: "@hourly",
            start: "2026-03-01 10:30",
            expected: ["2026-03-01 11:00 Sun", "2026-03-01 12:00 Sun"]
        ),
        Case(expression: "@daily", start: "2026-03-01 10:30", expected: ["2026-03-02 00:00 Mon"]),
        Case(expression: "@weekly", start: "2026-03-01 10:30", expected: ["2026-03-08 00:00 Sun"]),
        Case(expression: "@monthly", start: "2026-03-01 10:30", expected: ["2026-04-01 00:00 Wed"]),
        Case(expression: "@yearly", start: "2026-03-01 10:30", expected: ["2027-01-01 00:00 Fri"]),
    ]

    @Test(arguments: cases)
    func firesAtTheExpectedTimes(_ testCase: Case) throws {
        let result = try firings(testCase.expression, after: testCase.start, count: testCase.expected.count)
        #expect(result == testCase.expected)
    }

    @Test func aStarStepDayOfMonthCombinesWithARestrictedWeekdayByAnd() throws {
        // Day-of-month "*/10" (1, 11, 21, 31) starts with "*", so only days that are also Mondays match.
        let result = try firings("0 0 */10 * 1", after: "2026-01-01 00:00", count: 3)
        #expect(result == ["2026-05-11 00:00 Mon", "2026-06-01 00:00 Mon", "2026-08-31 00:00 Mon"])
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        let expression: String
        let message: String
        var testDescription: String { "\"\(self.expression)\"" }
    }

    static let invalid: [Invalid] = [
        Invalid(expression: "", message: "expected 5 fields (minute hour day-of-month month day-of-week), found 0"),
        Invalid(
            expression: "* * * *",
            message: "expected 5 fields (minute hour day-of-month month day-of-week), found 4"
        ),
        Invalid(
            expression: "0 0 * * * *",
            message: "expected 5 fields (minute hour day-of-month month day-of-week), found 6"
        ),
        Invalid(expression: "60 * * * *", message: "minute value 60 is outside 0-59"),
        Invalid(expression: "* 24 * * *", message: "hour value 24 is outside 0-23"),
        Invalid(expression: "* * 0 * *", message: "day-of-month value 0 is outside 1-31"),
        Invalid(expression: "* * * 13 *", message: "month value 13 is outside 1-12"),
        Invalid(expression: "* * * * 8", message: "day-of-week value 8 is outside 0-7"),
        Invalid(expression: "5-1 * * * *", message: "minute range 5-1 runs backwards"),
        Invalid(expression: "*/0 * * * *", message: "minute step 0 is outside 1-59"),
        Invalid(expression: "*/x * * * *", message: "minute step \"x\" is not a number"),
        Invalid(expression: "1,,2 * * * *", message: "minute has an empty list item"),
        Invalid(expression: "a * * * *", message: "minute value \"a\" is not a number or name"),
        Invalid(expression: "* * * FOO *", message: "month value \"FOO\" is not a number or name"),
        Invalid(
            expression: "* * L * *",
            message: "day-of-month uses \"L\", a Quartz extension that standard cron does not have"
        ),
        Invalid(
            expression: "* * ? * *",
            message: "day-of-month uses \"?\", a Quartz extension that standard cron does not have"
        ),
        Invalid(
            expression: "* * * * 5#2",
            message: "day-of-week uses \"#\", a Quartz extension that standard cron does not have"
        ),
        Invalid(expression: "0 0 30 2 *", message: "day-of-month 30 never occurs in the months given"),
        Invalid(expression: "0 0 31 4,6 *", message: "day-of-month 31 never occurs in the months given"),
        Invalid(expression: "@every5m", message: "unknown macro @every5m"),
        Invalid(expression: "1/2/3 * * * *", message: "minute \"1/2/3\" has more than one \"/\""),
    ]

    @Test(arguments: invalid)
    func refusesWithAClearMessage(_ testCase: Invalid) {
        do {
            _ = try CronExpression(testCase.expression)
            Issue.record("accepted \"\(testCase.expression)\"")
        } catch let error as CronExpressionError {
            #expect(error.description == "invalid cron expression \"\(testCase.expression)\": \(testCase.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func unknownTimeZoneIsRefused() {
        #expect(throws: SchedulerError.invalidSchedule("unknown time zone \"Mars/Olympus\"")) {
            try Schedule.cron("0 0 * * *", timeZone: "Mars/Olympus")
        }
    }

    @Test func wallClockInAConfiguredTimeZone() throws {
        // 09:00 in Seoul is 00:00 UTC.
        let schedule = try Schedule.cron("0 9 * * *", timeZone: "Asia/Seoul")
        let next = schedule.nextTick(after: wallTime("2026-03-01 12:00", "UTC"))
        #expect(wallText(next, "UTC") == "2026-03-02 00:00 Mon")
        #expect(wallText(next, "Asia/Seoul") == "2026-03-02 09:00 Mon")
    }

    @Test func springForwardSkipsTheMissingHour() throws {
        // Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29: 02:30 does not exist that day.
        let result = try firings("30 2 * * *", after: "2026-03-28 00:00", count: 2, zone: "Europe/Berlin")
        #expect(result == ["2026-03-28 02:30 Sat", "2026-03-30 02:30 Mon"])
        // Every-30-minutes jobs just continue on the new offset.
        let halfHourly = try firings("*/30 * * * *", after: "2026-03-29 01:00", count: 3, zone: "Europe/Berlin")
        #expect(halfHourly == ["2026-03-29 01:30 Sun", "2026-03-29 03:00 Sun", "2026-03-29 03:30 Sun"])
    }

    @Test func dayRestrictedJobsAcrossDaylightSavingChanges() throws {
        // Saturday 2026-03-28 → the next Monday midnight in Berlin, across the 23-hour Sunday.
        #expect(
            try firings("0 0 * * MON", after: "2026-03-28 12:00", count: 2, zone: "Europe/Berlin")
                == ["2026-03-30 00:00 Mon", "2026-04-06 00:00 Mon"]
        )
        #expect(
            try firings("30 1 * * SUN", after: "2026-03-28 12:00", count: 1, zone: "Europe/Berlin")
                == ["2026-03-29 01:30 Sun"]
        )
        // Across the 25-hour Sunday in October, and in New York (clocks change at 02:00 on other dates).
        #expect(
            try firings("0 0 * * MON", after: "2026-10-24 12:00", count: 2, zone: "Europe/Berlin")
                == ["2026-10-26 00:00 Mon", "2026-11-02 00:00 Mon"]
        )
        #expect(
            try firings("15 3 * * 0", after: "2026-03-07 12:00", count: 2, zone: "America/New_York")
                == ["2026-03-08 03:15 Sun", "2026-03-15 03:15 Sun"]
        )
        #expect(
            try firings("0 0 1 * *", after: "2026-03-28 12:00", count: 2, zone: "Europe/Berlin")
                == ["2026-04-01 00:00 Wed", "2026-05-01 00:00 Fri"]
        )
    }

    @Test func fallBackRunsARepeatedTimeOnce() throws {
        // Europe/Berlin goes from 03:00 back to 02:00 on 2026-10-25: 02:30 happens twice, the job runs once.
        let cron = try CronExpression("30 2 * * *")
        let zone = TimeZone(identifier: "Europe/Berlin")!
        let first = try #require(cron.nextDate(after: wallTime("2026-10-25 00:00", "Europe/Berlin"), in: zone))
        let second = try #require(cron.nextDate(after: first, in: zone))
        #expect(wallText(first, "Europe/Berlin") == "2026-10-25 02:30 Sun")
        #expect(wallText(second, "Europe/Berlin") == "2026-10-26 02:30 Mon")
        #expect(second.timeIntervalSince(first) == 25 * 3600)
        // The hourly job fires at each real hour, but only once per wall-clock 02:00.
        let hourly = try firings("0 * * * *", after: "2026-10-25 00:30", count: 4, zone: "Europe/Berlin")
        #expect(
            hourly == ["2026-10-25 01:00 Sun", "2026-10-25 02:00 Sun", "2026-10-25 03:00 Sun", "2026-10-25 04:00 Sun"]
        )
    }
}

@Suite("Schedules")
struct ScheduleTests {
    @Test func intervalTicksAreAlignedToTheEpoch() throws {
        let schedule = try Schedule.every(.seconds(15))
        let start = Date(timeIntervalSince1970: 1_000_007.25)
        #expect(schedule.nextTick(after: start) == Date(timeIntervalSince1970: 1_000_020))
        #expect(
            schedule.nextTick(after: Date(timeIntervalSince1970: 1_000_020)) == Date(timeIntervalSince1970: 1_000_035)
        )
        #expect(
            schedule.latestTick(atOrBefore: start, notBefore: Date(timeIntervalSince1970: 0))
                == Date(timeIntervalSince1970: 1_000_005)
        )
        #expect(schedule.latestTick(atOrBefore: start, notBefore: Date(timeIntervalSince1970: 1_000_006)) == nil)
        #expect(schedule.description == "every 15s")
        #expect(try Schedule.every(.milliseconds(250)).description == "every 250ms")
    }

    @Test func latestCronTickWithinAWindow() throws {
        let schedule = try Schedule.cron("0 */6 * * *")
        let latest = schedule.latestTick(
            atOrBefore: wallTime("2026-03-01 13:00"),
            notBefore: wallTime("2026-03-01 00:00")
        )
        #expect(wallText(latest) == "2026-03-01 12:00 Sun")
        #expect(
            schedule.latestTick(atOrBefore: wallTime("2026-03-01 11:00"), notBefore: wallTime("2026-03-01 06:01"))
                == nil
        )
        #expect(schedule.description == "cron 0 */6 * * * in UTC")
    }

    @Test func intervalsUnderAMillisecondAreRefused() {
        #expect(throws: SchedulerError.invalidSchedule("interval 0.0 seconds is shorter than 1 ms")) {
            try Schedule.every(.zero)
        }
    }
}

@Suite("Schedules from configuration")
struct ScheduleParsingTests {
    @Test(arguments: [
        ("@every 500ms", "every 500ms"), ("@every 30s", "every 30s"), ("@every 5m", "every 300s"),
        ("@every 2h", "every 7200s"), ("  @every 1s ", "every 1s"), ("5 0 * * *", "cron 5 0 * * * in UTC"),
        ("@daily", "cron @daily in UTC"),
    ])
    func parses(_ text: String, _ expected: String) throws {
        #expect(try Schedule.parse(text).description == expected)
    }

    @Test(arguments: ["@every", "@every 0s", "@every 10", "@every 1d", "@every -1s", "@every 1.5s"])
    func refusesBadIntervals(_ text: String) {
        #expect(throws: SchedulerError.self) { try Schedule.parse(text) }
    }

    @Test func cronErrorsComeThrough() {
        #expect(throws: CronExpressionError.self) { try Schedule.parse("61 * * * *") }
        #expect(throws: SchedulerError.invalidSchedule("unknown time zone \"Nowhere\"")) {
            try Schedule.parse("0 0 * * *", timeZone: "Nowhere")
        }
    }
}
