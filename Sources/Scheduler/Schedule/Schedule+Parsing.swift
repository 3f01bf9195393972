extension Schedule {
    /// Parses a schedule as operators write it in configuration: `@every <n><unit>` (units `ms`, `s`, `m`, `h`;
    /// for example `@every 30s`) or a cron expression (`5 0 * * *`, `@daily`).
    /// - Parameters:
    ///   - text: The schedule.
    ///   - timeZone: The time zone of cron expressions (IANA identifier); ignored for `@every`.
    /// - Throws: ``SchedulerError`` or ``CronExpressionError`` with a one-line explanation.
    public static func parse(_ text: String, timeZone: String = "UTC") throws -> Schedule {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.lowercased().hasPrefix("@every") else {
            return try .cron(trimmed, timeZone: timeZone)
        }
        let amount = String(trimmed.dropFirst("@every".count)).trimmingWhitespace()
        guard let interval = Self.duration(amount) else {
            throw SchedulerError.invalidSchedule(
                "\"\(text.prefix(80))\": expected @every followed by a number and ms, s, m or h (e.g. @every 30s)"
            )
        }
        return try .every(interval)
    }

    private static func duration(_ text: String) -> Duration? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 9, let value = Int64(digits), value > 0 else { return nil }
        switch unit {
        case "ms": return .milliseconds(value)
        case "s": return .seconds(value)
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3600)
        default: return nil
        }
    }
}
