import Hummingbird

/// Counts every answered request in the dashboard's figures: its status class and how long it took to answer (to
/// the response's head: a streamed body, such as server-sent events, is not timed to its end).
struct DashboardMiddleware<Context: RequestContext>: RouterMiddleware {
    let series: DashboardSeries

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            self.series.requestAnswered(status: Int(response.status.code), duration: .now - start)
            return response
        } catch let error as any HTTPResponseError {
            self.series.requestAnswered(status: Int(error.status.code), duration: .now - start)
            throw error
        } catch {
            self.series.requestAnswered(status: 500, duration: .now - start)
            throw error
        }
    }
}
