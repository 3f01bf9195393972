/// A standard five-field cron expression: `minute hour day-of-month month day-of-week`.
///
/// Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to the end of the
/// field), or a comma-separated list of those. Months accept `JAN`–`DEC` and days of the week `SUN`–`SAT`
/// (case-insensitive); day-of-week `0` and `7` are both Sunday. The macros `@yearly` (`@annually`),
/// `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their usual expressions.
///
/// Days follow the classic cron rule: when both day-of-month and day-of-week are restricted (neither field
/// starts with `*`), a day matches if **either** matches (`0 0 13 * FRI` runs on every 13th and every Friday);
/// otherwise both must match. Quartz extensions (`?`, `L`, `W`, `#`, seconds, years) are refused with a clear
/// error, as are expressions that can never fire (`0 0 30 2 *`).
///
/// ```swift
/// let nightly = try CronExpression("5 0 * * *")          // 00:05 every day
/// let next = nightly.nextDate(after: .now, in: .gmt)
/// ```
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let source: String
    let minutes: CronSet
    let hours: CronSet
    let daysOfMonth: CronSet
    let months: CronSet
    /// Sunday is 0.
    let daysOfWeek: CronSet
    /// False when the field starts with `*` (the classic cron rule for combining the two day fields).
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses an expression.
    /// - Parameter expression: Five fields separated by spaces, or a macro such as `@daily`.
    /// - Throws: ``CronExpressionError`` naming the field and the problem.
    public init(_ expression: String) throws {
        self.source = expression
        let trimmed = expression.trimmingWhitespace()
        let expanded: String
        if trimmed.hasPrefix("@") {
            guard let macro = Self.macros[trimmed.lowercased()] else {
                throw CronExpressionError(expression, "unknown macro \(trimmed)")
            }
            expanded = macro
        } else {
            expanded = trimmed
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else {
            throw CronExpressionError(
                expression,
                "expected 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)"
            )
        }
        self.minutes = try Self.parse(fields[0], .minute, expression)
        self.hours = try Self.parse(fields[1], .hour, expression)
        self.daysOfMonth = try Self.parse(fields[2], .dayOfMonth, expression)
        self.months = try Self.parse(fields[3], .month, expression)
        var weekdays = try Self.parse(fields[4], .dayOfWeek, expression)
        if weekdays.contains(7) {
            weekdays.insert(0)
        }
        self.daysOfWeek = CronSet(bits: weekdays.bits & 0x7F)
        self.dayOfMonthRestricted = !fields[2].hasPrefix("*")
        self.dayOfWeekRestricted = !fields[4].hasPrefix("*")
        // Only day-of-month can make an expression impossible (the 30th of February); with day-of-week
        // restricted too, the weekday alone matches often enough.
        if self.dayOfMonthRestricted && !self.dayOfWeekRestricted {
            let longestMonth = (1...12).filter { self.months.contains($0) }.map(Self.maximumDays(inMonth:)).max() ?? 0
            if let firstDay = self.daysOfMonth.first, firstDay > longestMonth {
                throw CronExpressionError(expression, "day-of-month \(firstDay) never occurs in the months given")
            }
        }
    }

    public var description: String { self.source }

    /// True when the day (1–31) of month and weekday (0 = Sunday) match the day fields.
    func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        let byMonthDay = self.daysOfMonth.contains(dayOfMonth)
        let byWeekday = self.daysOfWeek.contains(weekday)
        if self.dayOfMonthRestricted && self.dayOfWeekRestricted { return byMonthDay || byWeekday }
        return byMonthDay && byWeekday
    }

    private static func maximumDays(inMonth month: Int) -> Int {
        switch month {
        case 2: 29
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func parse(_ text: Substring, _ field: CronField, _ expression: String) throws -> CronSet {
        var set = CronSet()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            try Self.parseItem(item, field, expression, into: &set)
        }
        return set
    }

    private static func parseItem(
        _ item: Substring,
        _ field: CronField,
        _ expression: String,
        into set: inout CronSet
    ) throws {
        func fail(_ reason: String) -> CronExpressionError {
            CronExpressionError(expression, "\(field.name) \(reason)")
        }
        guard !item.isEmpty else { throw fail("has an empty list item") }
        // Quartz's day extensions; day-of-week names contain none of `?#`, day-of-month has no names at all.
        let quartz: String = field == .dayOfMonth ? "?LWlw#" : field == .dayOfWeek ? "?#" : ""
        if let unsupported = item.first(where: { quartz.contains($0) }) {
            throw fail("uses \"\(unsupported)\", a Quartz extension that standard cron does not have")
        }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("\"\(item)\" has more than one \"/\"") }
        var step = 1
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parts[1].allSatisfy(\.isASCII) else {
                throw fail("step \"\(parts[1])\" is not a number")
            }
            guard parsed >= 1 && parsed <= field.range.upperBound else {
                throw fail("step \(parsed) is outside 1-\(field.range.upperBound)")
            }
            step = parsed
        }
        let base = parts[0]
        let lower: Int
        let upper: Int
        if base == "*" {
            lower = field == .dayOfWeek ? 0 : field.range.lowerBound
            upper = field == .dayOfWeek ? 6 : field.range.upperBound
        } else {
            let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2 else { throw fail("\"\(base)\" is not a value or a range") }
            lower = try Self.value(bounds[0], field, fail)
            if bounds.count == 2 {
                upper = try Self.value(bounds[1], field, fail)
                guard lower <= upper else { throw fail("range \(base) runs backwards") }
            } else {
                // `a/n` runs from `a` to the end of the field; a plain value is just itself.
                upper = parts.count == 2 ? (field == .dayOfWeek ? 6 : field.range.upperBound) : lower
            }
        }
        for value in stride(from: lower, through: upper, by: step) {
            set.insert(value)
        }
    }

    private static func value(
        _ token: Substring,
        _ field: CronField,
        _ fail: (String) -> CronExpressionError
    ) throws -> Int {
        guard !token.isEmpty else { throw fail("has an empty value") }
        guard let value = field.value(of: token) else { throw fail("value \"\(token)\" is not a number or name") }
        guard field.range.contains(value) else {
            throw fail("value \(value) is outside \(field.range.lowerBound)-\(field.range.upperBound)")
        }
        return value
    }
}

extension CronSet {
    init(bits: UInt64) {
        self.init()
        for value in 0..<64 where bits & (1 << UInt64(value)) != 0 {
            self.insert(value)
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
