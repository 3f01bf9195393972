public import Foundation

extension CronExpression {
    /// The first instant strictly after `date` (at a whole minute) that the expression matches in `timeZone`.
    ///
    /// Daylight-saving changes follow the wall clock: a time that does not exist on the day clocks go forward
    /// is skipped, and a time that occurs twice on the day they go back fires once (at its first occurrence).
    /// - Parameters:
    ///   - date: The instant to search after.
    ///   - timeZone: The zone whose wall clock the fields describe.
    /// - Returns: The next matching instant, or nil if none exists within about eight years.
    public func nextDate(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // Start at the next whole minute (all real UTC offsets are whole minutes, so local minutes align).
        var seconds = (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
        // Each step moves to the next candidate minute, hour or day; eight years of days is a generous bound.
        for _ in 0..<(8 * 366 * 3) {
            let candidate = Date(timeIntervalSince1970: seconds)
            let parts = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: candidate)
            guard let month = parts.month, let day = parts.day, let hour = parts.hour, let minute = parts.minute,
                let weekday = parts.weekday
            else { return nil }
            if !self.months.contains(month) || !self.matchesDay(dayOfMonth: day, weekday: weekday - 1) {
                // The next local midnight, from the calendar: a day is 23 or 25 hours when clocks change.
                let today = calendar.startOfDay(for: candidate)
                guard let tomorrow = calendar.date(byAdding: .day, value: 1, to: today), tomorrow > candidate else {
                    seconds += Double((23 - hour) * 60 + (60 - minute)) * 60
                    continue
                }
                seconds = tomorrow.timeIntervalSince1970
                continue
            }
            if !self.hours.contains(hour) {
                seconds += Double(60 - minute) * 60
                continue
            }
            guard let nextMinute = self.minutes.first(atLeast: minute) else {
                seconds += Double(60 - minute) * 60
                continue
            }
            if nextMinute != minute {
                seconds += Double(nextMinute - minute) * 60
                continue
            }
            // A wall-clock time repeated when clocks go back (an hour earlier read the same) fires only once.
            if Self.isRepeatedWallTime(candidate, calendar: calendar, hour: hour, minute: minute) {
                seconds += 60
                continue
            }
            return candidate
        }
        return nil
    }

    private static func isRepeatedWallTime(_ date: Date, calendar: Calendar, hour: Int, minute: Int) -> Bool {
        let zone = calendar.timeZone
        let offsetNow = zone.secondsFromGMT(for: date)
        // Only instants just after a backward change can repeat a wall time: look for a larger offset up to
        // three hours earlier (every real change is at most that large).
        for back in [3_600.0, 1_800.0, 7_200.0, 10_800.0] {
            let earlier = date.addingTimeInterval(-back)
            guard zone.secondsFromGMT(for: earlier) > offsetNow else { continue }
            let delta = Double(zone.secondsFromGMT(for: earlier) - offsetNow)
            let sameWallTime = date.addingTimeInterval(-delta)
            if zone.secondsFromGMT(for: sameWallTime) != offsetNow {
                let parts = calendar.dateComponents([.hour, .minute], from: sameWallTime)
                if parts.hour == hour && parts.minute == minute { return true }
            }
        }
        return false
    }
}
