public import Foundation

/// When a job runs: on a fixed interval, or by a cron expression in a time zone.
///
/// Ticks are instants every instance computes the same way from its own clock, so instances agree on which
/// tick is due without talking to each other: interval ticks are whole multiples of the interval since the
/// Unix epoch (a 1-minute job ticks at :00 of every minute, whenever an instance started), cron ticks are the
/// expression's matching minutes.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case interval(milliseconds: Int64)
        case cron(CronExpression, TimeZone, name: String)
    }

    let kind: Kind

    /// Every `interval`, at whole multiples of it since the Unix epoch.
    /// - Parameter interval: At least one millisecond.
    /// - Throws: ``SchedulerError`` when the interval is shorter than a millisecond.
    public static func every(_ interval: Duration) throws -> Schedule {
        let milliseconds = interval.schedulerMilliseconds
        guard milliseconds >= 1 else {
            throw SchedulerError.invalidSchedule("interval \(interval) is shorter than 1 ms")
        }
        return Schedule(kind: .interval(milliseconds: milliseconds))
    }

    /// By a five-field cron expression, read on the wall clock of `timeZone`.
    /// - Parameters:
    ///   - expression: For example `"5 0 * * *"` (00:05 every day); see ``CronExpression``.
    ///   - timeZone: An IANA identifier such as `"Europe/Berlin"`; UTC by default.
    /// - Throws: ``CronExpressionError`` for a bad expression, ``SchedulerError`` for an unknown time zone.
    public static func cron(_ expression: String, timeZone: String = "UTC") throws -> Schedule {
        let parsed = try CronExpression(expression)
        guard let zone = TimeZone(identifier: timeZone) else {
            throw SchedulerError.invalidSchedule("unknown time zone \"\(timeZone)\"")
        }
        return Schedule(kind: .cron(parsed, zone, name: timeZone))
    }

    /// A readable form: `every 1s`, `cron 5 0 * * * in UTC`.
    public var description: String {
        switch self.kind {
        case .interval(let milliseconds):
            milliseconds % 1000 == 0 ? "every \(milliseconds / 1000)s" : "every \(milliseconds)ms"
        case .cron(let expression, _, let name): "cron \(expression.source) in \(name)"
        }
    }

    /// The first tick strictly after `date`, or nil if the expression never matches again.
    /// - Parameter date: The instant to search after.
    public func nextTick(after date: Date) -> Date? {
        switch self.kind {
        case .interval(let interval):
            let now = date.epochMilliseconds
            let next = (now.floorDivided(by: interval) + 1) * interval
            return Date(epochMilliseconds: next)
        case .cron(let expression, let zone, _):
            return expression.nextDate(after: date, in: zone)
        }
    }

    /// The latest tick at or before `date`, looking back no further than `limit`.
    /// - Parameters:
    ///   - date: The instant to search back from.
    ///   - limit: The earliest instant to consider.
    /// - Returns: The tick, or nil when none falls within `limit...date`.
    public func latestTick(atOrBefore date: Date, notBefore limit: Date) -> Date? {
        switch self.kind {
        case .interval(let interval):
            let tick = Date(epochMilliseconds: date.epochMilliseconds.floorDivided(by: interval) * interval)
            return tick >= limit ? tick : nil
        case .cron:
            // Walk forward from the limit: cron ticks are at most once a minute, and callers bound the window.
            var latest: Date?
            var cursor = limit.addingTimeInterval(-0.001)
            var steps = 0
            while let next = self.nextTick(after: cursor), next <= date, steps < 100_000 {
                latest = next
                cursor = next
                steps += 1
            }
            return latest
        }
    }
}

extension Date {
    /// Milliseconds since the Unix epoch, rounded down.
    var epochMilliseconds: Int64 { Int64((self.timeIntervalSince1970 * 1000).rounded(.down)) }

    init(epochMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1000)
    }
}

extension Int64 {
    /// Division rounding toward negative infinity.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, saturating.
    var schedulerMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        return milliseconds + attoseconds / 1_000_000_000_000_000
    }
}
