public import Hummingbird
public import Prometheus
public import RedisClient

/// `GET /metrics`: the Prometheus text exposition of a registry.
///
/// With a Redis client, each scrape first sets the pool gauges from ``RedisClient/poolStatistics()`` (no background
/// sampling): `redis_pool_connections{kind="shared"|"dedicated"}`, `redis_pool_idle_connections`,
/// `redis_pool_waiters`, `redis_commands_in_flight`.
public struct MetricsController: Sendable {
    let registry: PrometheusCollectorRegistry
    let redis: RedisClient?

    /// Creates the controller.
    /// - Parameters:
    ///   - registry: The registry to expose (the one the `MetricsSystem` was bootstrapped with).
    ///   - redis: The client whose pool gauges are set on each scrape.
    public init(registry: PrometheusCollectorRegistry, redis: RedisClient? = nil) {
        self.registry = registry
        self.redis = redis
    }

    private func recordPoolGauges() {
        guard let statistics = self.redis?.poolStatistics() else { return }
        let gauges: [(String, [(String, String)], Int)] = [
            ("redis_pool_connections", [("kind", "shared")], statistics.sharedConnections),
            ("redis_pool_connections", [("kind", "dedicated")], statistics.dedicatedConnections),
            ("redis_pool_idle_connections", [], statistics.idleDedicatedConnections),
            ("redis_pool_waiters", [], statistics.waiters),
            ("redis_commands_in_flight", [], statistics.inFlightCommands),
        ]
        for (name, labels, value) in gauges {
            self.registry.makeGauge(name: name, labels: labels).set(Int64(value))
        }
    }

    /// Adds the route.
    /// - Parameter router: Where to add it.
    public func addRoutes(to router: some RouterMethods<ShopRequestContext>) {
        router.get("metrics") { _, _ in
            self.recordPoolGauges()
            var bytes: [UInt8] = []
            self.registry.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }
}
