public import Hummingbird
import Logging
import PostgresNIO
import RedisClient

/// `GET /health/live` and `GET /health/ready`.
public struct HealthController: Sendable {
    let instanceID: String
    let checks: [any ReadinessCheck]
    let timeout: Duration

    /// Creates the controller.
    /// - Parameters:
    ///   - instanceID: Shown in every answer.
    ///   - checks: The dependencies `ready` checks, in the order they are reported.
    ///   - timeout: How long each check may take.
    public init(instanceID: String, checks: [any ReadinessCheck], timeout: Duration) {
        self.instanceID = instanceID
        self.checks = checks
        self.timeout = timeout
    }

    /// The routes, to add under `/health`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.get("live") { _, _ in
            Envelope(data: Liveness(instance: self.instanceID, status: "up"))
        }
        routes.get("ready") { _, context in
            try await self.ready(context: context)
        }
        return routes
    }

    struct Liveness: Codable, Sendable {
        var instance: String
        var status: String
    }

    struct Readiness: Codable, Sendable {
        var checks: [DependencyStatus]
        var instance: String
        var status: String
    }

    func ready(context: ShopRequestContext) async throws -> Envelope<Readiness, EmptyMeta> {
        let results = await self.runChecks()
        for result in results where result.status == .down {
            context.logger.warning(
                "dependency unavailable",
                metadata: ["dependency": "\(result.name)", "detail": "\(result.detail ?? "")"]
            )
        }
        if results.contains(where: { $0.status == .down }) {
            throw APIError.dependencyUnavailable(results)
        }
        return Envelope(data: Readiness(checks: results, instance: self.instanceID, status: "ready"))
    }

    /// Runs every check concurrently, each bounded by the timeout; results keep the checks' order.
    func runChecks() async -> [DependencyStatus] {
        await withTaskGroup(of: (Int, DependencyStatus).self) { group in
            for (index, check) in self.checks.enumerated() {
                group.addTask {
                    do {
                        try await withTimeout(self.timeout) { try await check.check() }
                        return (index, DependencyStatus(name: check.name, status: .up))
                    } catch {
                        return (index, DependencyStatus(name: check.name, status: .down, detail: Self.describe(error)))
                    }
                }
            }
            var results = [DependencyStatus?](repeating: nil, count: self.checks.count)
            for await (index, status) in group {
                results[index] = status
            }
            return results.compactMap { $0 }
        }
    }

    /// A short, client-safe reason (no hosts' passwords, no SQL).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as TimeoutError: return error.description
        case let error as RedisError: return RedisReadinessCheck.describe(error)
        case let error as PSQLError where error.code == .connectionError:
            return error.underlying.map(Self.describeConnectionFailure) ?? "cannot connect"
        case let error as PSQLError: return "PostgreSQL error (\(error.code))"
        default: return Self.describeConnectionFailure(error)
        }
    }

    private static func describeConnectionFailure(_ error: any Error) -> String {
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return "connection refused" }
        if text.contains("timeout") || text.contains("timed out") { return "connection timed out" }
        return "cannot connect"
    }
}
