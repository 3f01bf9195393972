import Hummingbird

/// Bounds how long the request's database calls wait for a pooled connection (``Database``): while PostgreSQL is
/// down the request answers `503` with `Retry-After` after about `wait`, instead of waiting for the pool.
struct DatabaseWaitMiddleware<Context: RequestContext>: RouterMiddleware {
    let wait: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        try await Database.withConnectionWait(self.wait) { try await next(request, context) }
    }
}
