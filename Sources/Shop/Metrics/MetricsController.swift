public import Hummingbird
public import Prometheus

/// `GET /metrics`: the Prometheus text exposition of a registry.
public struct MetricsController: Sendable {
    let registry: PrometheusCollectorRegistry

    /// Creates the controller.
    /// - Parameter registry: The registry to expose (the one the `MetricsSystem` was bootstrapped with).
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Adds the route.
    /// - Parameter router: Where to add it.
    public func addRoutes(to router: some RouterMethods<ShopRequestContext>) {
        router.get("metrics") { _, _ in
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
