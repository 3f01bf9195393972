import Foundation
import OTel
import ServiceLifecycle

/// OTLP export of the service's spans, configured by the standard OpenTelemetry environment variables; off unless
/// they ask for it.
///
/// On when `OTEL_TRACES_EXPORTER=otlp`, or when `OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_TRACES_EXPORTER` is not `none`); `OTEL_SDK_DISABLED=true`
/// turns it off whatever else is set. Then swift-otel reads the rest: `OTEL_EXPORTER_OTLP_PROTOCOL`
/// (`http/protobuf`, the default, `http/json` or `grpc`), `OTEL_SERVICE_NAME` (default `shop`),
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`. Only traces are exported: metrics stay on
/// `GET /metrics`, logs on standard output. Off, the libraries' spans go to the no-op tracer.
enum TraceExport {
    /// Bootstraps the tracer and returns the exporter's service (run it beside the application), or nil when export
    /// is off.
    /// - Throws: ``UnsupportedExporter``; swift-otel's configuration errors (a malformed endpoint).
    static func bootstrap(instanceID: String, environment: [String: String]) throws -> (any Service)? {
        guard try Self.isEnabled(environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "shop"
        configuration.resourceAttributes["service.instance.id"] = instanceID
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        return try OTel.bootstrap(configuration: configuration, environment: environment)
    }

    /// Whether the environment asks for trace export.
    /// - Throws: ``UnsupportedExporter`` for `OTEL_TRACES_EXPORTER` values other than `otlp` and `none`.
    static func isEnabled(_ environment: [String: String]) throws -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        switch environment["OTEL_TRACES_EXPORTER"]?.lowercased() {
        case "none": return false
        case "otlp": return true
        case nil, "": break
        case let other?: throw UnsupportedExporter(name: other)
        }
        return environment["OTEL_EXPORTER_OTLP_ENDPOINT"].map { !$0.isEmpty } == true
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].map { !$0.isEmpty } == true
    }

    struct UnsupportedExporter: Error, CustomStringConvertible {
        let name: String
        var description: String { "OTEL_TRACES_EXPORTER=\(self.name) is not supported: use otlp or none" }
    }
}
