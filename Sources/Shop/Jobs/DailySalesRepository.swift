import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One day's sales in one currency, as `daily_sales` stores it and the admin API shows it.
public struct DailySales: Codable, Sendable, Equatable {
    /// The day (`2026-11-28`), in `JOBS_TIME_ZONE`.
    public var day: String
    /// ISO 4217 code.
    public var currency: String
    /// Orders placed that day (not cancelled or failed).
    public var orders: Int
    /// Units in those orders.
    public var units: Int
    /// The orders' total, a decimal string (`"1234.50"`).
    public var revenue: String
}

/// Aggregates orders into `daily_sales`, and reads it back.
struct DailySalesRepository: Sendable {
    let client: Database
    let logger: Logger

    /// Replaces the rows of `day` with totals over the orders created in `[start, end)`, in one transaction,
    /// so running it again for the same day gives the same rows.
    /// - Returns: The day's rows, by currency.
    func aggregate(day: String, start: Date, end: Date) async throws -> [DailySales] {
        try await self.client.transaction(logger: self.logger) { connection in
            try await connection.query("DELETE FROM daily_sales WHERE day = \(day)::date", logger: self.logger)
            let rows = try await connection.query(
                """
                INSERT INTO daily_sales (day, currency, orders, units, revenue)
                SELECT \(day)::date, o.currency, count(*), coalesce(sum(u.units), 0), coalesce(sum(o.total), 0)
                FROM orders o
                CROSS JOIN LATERAL (
                    SELECT coalesce(sum(i.quantity), 0) AS units FROM order_items i WHERE i.order_id = o.id
                ) u
                WHERE o.created_at >= \(start) AND o.created_at < \(end) AND o.status NOT IN ('cancelled', 'failed')
                GROUP BY o.currency
                RETURNING day::text, currency, orders, units, revenue::text
                """,
                logger: self.logger
            )
            return try await Self.decode(rows).sorted { $0.currency < $1.currency }
        }
    }

    /// The stored rows for days `from...to` (inclusive), oldest first.
    func list(from: String, to: String) async throws -> [DailySales] {
        let rows = try await self.client.query(
            """
            SELECT day::text, currency, orders, units, revenue::text FROM daily_sales
            WHERE day BETWEEN \(from)::date AND \(to)::date ORDER BY day, currency
            """,
            logger: self.logger
        )
        return try await Self.decode(rows)
    }

    private static func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws
        -> [DailySales]
    {
        var result: [DailySales] = []
        for try await (day, currency, orders, units, revenue) in rows.decode((String, String, Int, Int, String).self) {
            result.append(DailySales(day: day, currency: currency, orders: orders, units: units, revenue: revenue))
        }
        return result
    }
}

/// Days on the wall clock of the jobs' time zone.
struct SalesCalendar: Sendable {
    let calendar: Calendar

    init(timeZone: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        self.calendar = calendar
    }

    /// The day before the one `date` falls on: its name (`2026-11-28`) and its bounds.
    func previousDay(of date: Date) -> (day: String, start: Date, end: Date) {
        let today = self.calendar.startOfDay(for: date)
        let start = self.calendar.date(byAdding: .day, value: -1, to: today) ?? today.addingTimeInterval(-86_400)
        return (self.name(of: start), start, today)
    }

    /// The bounds of the day named `day` (`2026-11-28`), or nil when it is not a date.
    func bounds(of day: String) -> (start: Date, end: Date)? {
        let parts = day.split(separator: "-")
        guard day.utf8.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]),
            let dayOfMonth = Int(parts[2]),
            let start = self.calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth)),
            self.name(of: start) == day,
            let end = self.calendar.date(byAdding: .day, value: 1, to: start)
        else { return nil }
        return (start, end)
    }

    func name(of date: Date) -> String {
        let parts = self.calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}
