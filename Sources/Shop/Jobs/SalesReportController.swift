public import Hummingbird

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/admin/sales/daily?from=YYYY-MM-DD&to=YYYY-MM-DD` (admins): what the `daily-sales` job stored.
public struct SalesReportController: Sendable {
    let repository: DailySalesRepository
    let calendar: SalesCalendar

    init(repository: DailySalesRepository, calendar: SalesCalendar) {
        self.repository = repository
        self.calendar = calendar
    }

    /// The routes, to add under `/api/v1/admin/sales`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get("daily", use: self.daily)
        return routes
    }

    @Sendable func daily(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        [DailySales], SalesMeta
    > {
        let today = self.calendar.name(of: Date())
        let defaultFrom = self.calendar.name(of: Date().addingTimeInterval(-6 * 86_400))
        var errors: [FieldError] = []
        func day(_ name: String, default value: String) -> String {
            guard let text = request.uri.queryParameters[Substring(name)].map(String.init) else { return value }
            guard self.calendar.bounds(of: text) != nil else {
                errors.append(FieldError(field: name, code: .invalidFormat, message: "must be a date (YYYY-MM-DD)"))
                return value
            }
            return text
        }
        let from = day("from", default: defaultFrom)
        let to = day("to", default: today)
        if errors.isEmpty, let start = self.calendar.bounds(of: from)?.start,
            let end = self.calendar.bounds(of: to)?.start
        {
            if start > end {
                errors.append(FieldError(field: "from", code: .outOfRange, message: "must not be after to"))
            } else if end.timeIntervalSince(start) > 366 * 86_400 {
                errors.append(
                    FieldError(field: "to", code: .outOfRange, message: "must be at most 366 days after from")
                )
            }
        }
        guard errors.isEmpty else { throw APIError.invalidParameters(errors) }
        return Envelope(
            data: try await self.repository.list(from: from, to: to),
            meta: SalesMeta(from: from, to: to, timeZone: self.calendar.calendar.timeZone.identifier)
        )
    }
}

/// `meta` of the daily sales report.
public struct SalesMeta: Codable, Sendable, Equatable {
    /// The first day included.
    public var from: String
    /// The last day included.
    public var to: String
    /// The zone days are counted in (`JOBS_TIME_ZONE`).
    public var timeZone: String
}
