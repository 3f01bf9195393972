import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Shop

/// `shop provider`: the simulated external provider (exchange rates, payments, signed webhooks) on loopback.
struct Provider: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Serve the simulated rate and payment provider (PROVIDER_HOST, PROVIDER_PORT, PAYMENT_WEBHOOK_SECRET).",
        discussion: """
            Its latency, error rate, outages and webhook behaviour change at run time:
              curl -X PUT -H 'Content-Type: application/json' -d '{"outage":true}' http://127.0.0.1:8090/v1/control
            """
    )

    @Option(name: .customLong("host"), help: "Address to bind (PROVIDER_HOST, default 127.0.0.1).")
    var host: String?

    @Option(name: .customLong("port"), help: "Port (PROVIDER_PORT, default 8090).")
    var port: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let host = self.host ?? environment["PROVIDER_HOST"] ?? "127.0.0.1"
        let portText = self.port ?? environment["PROVIDER_PORT"] ?? "8090"
        guard let port = Int(portText), (1...65535).contains(port) else {
            printError("error: PROVIDER_PORT: \"\(portText)\" is not a port number (1-65535)")
            throw ExitCode.failure
        }
        let secret = environment["PAYMENT_WEBHOOK_SECRET"] ?? PaymentsConfiguration.defaultWebhookSecret
        bootstrapLogging(level: Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info)
        let logger = Logger(label: "shop-provider")
        let app = buildProviderApplication(host: host, port: port, webhookSecret: secret, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
