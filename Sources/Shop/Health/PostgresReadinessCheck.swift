import PostgresNIO

/// Ready when PostgreSQL answers `SELECT 1`.
struct PostgresReadinessCheck: ReadinessCheck {
    let client: PostgresClient
    var name: String { "postgres" }

    func check() async throws {
        let rows = try await self.client.query("SELECT 1 AS ok")
        for try await _ in rows {}
    }
}
