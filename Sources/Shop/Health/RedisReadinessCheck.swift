import RedisClient

/// Ready when Redis answers `PING` with `PONG` through the service's own ``RedisClient``.
struct RedisReadinessCheck: ReadinessCheck {
    let client: RedisClient
    var name: String { "redis" }

    func check() async throws {
        try await self.client.ping()
    }

    /// A short, client-safe reason for a failed check: the error's code, never its message.
    static func describe(_ error: RedisError) -> String {
        if error.code == .server {
            return "redis answered \(error.serverErrorPrefix ?? "an error")"
        }
        if let underlying = error.underlying, String(describing: underlying).lowercased().contains("refused") {
            return "connection refused"
        }
        return "\(error.code)"
    }
}
