/// One of the five fields of a cron expression, with its range and the names it accepts.
enum CronField: Int, CaseIterable, Sendable {
    case minute, hour, dayOfMonth, month, dayOfWeek

    var name: String {
        switch self {
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    /// The values the field accepts (day-of-week also accepts 7 for Sunday, folded to 0).
    var range: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    private static let monthNames = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ]
    private static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// The number a name or numeral stands for in this field, or nil.
    func value(of token: Substring) -> Int? {
        if let number = Int(token), token.allSatisfy(\.isASCII) { return number }
        let upper = token.uppercased()
        switch self {
        case .month: return Self.monthNames.firstIndex(of: upper).map { $0 + 1 }
        case .dayOfWeek: return Self.dayNames.firstIndex(of: upper)
        default: return nil
        }
    }
}

/// A set of small integers (0–63) as a bit mask.
struct CronSet: Sendable, Hashable {
    private(set) var bits: UInt64 = 0

    init() {}

    init(_ range: ClosedRange<Int>) {
        for value in range { self.insert(value) }
    }

    mutating func insert(_ value: Int) {
        self.bits |= 1 << UInt64(value)
    }

    func contains(_ value: Int) -> Bool {
        value >= 0 && value < 64 && self.bits & (1 << UInt64(value)) != 0
    }

    var isEmpty: Bool { self.bits == 0 }

    /// The smallest member, if any.
    var first: Int? { self.isEmpty ? nil : self.bits.trailingZeroBitCount }

    /// The smallest member that is at least `value`, if any.
    func first(atLeast value: Int) -> Int? {
        guard value < 64 else { return nil }
        let masked = self.bits & (UInt64.max << UInt64(max(0, value)))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }
}
