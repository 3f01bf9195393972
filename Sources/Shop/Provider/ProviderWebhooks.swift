import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sends the simulated provider's payment webhooks (a `Service`): signed, after the configured delay, retried
/// with backoff (capped at 5 s) until the receiver answers 2xx or 10 minutes have passed — as real providers
/// keep retrying through a receiver's outage — duplicated or reordered when told to.
final class ProviderWebhooks: Service, Sendable {
    struct Delivery: Sendable {
        let payment: ProviderPayment
        let outcome: String
    }

    let state: ProviderState
    let signature: WebhookSignature
    let http: HTTPClient
    let logger: Logger
    private let deliveries: AsyncStream<Delivery>
    private let continuation: AsyncStream<Delivery>.Continuation

    init(state: ProviderState, secret: String, logger: Logger) {
        self.state = state
        self.signature = WebhookSignature(secret: secret)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton)
        self.logger = logger
        (self.deliveries, self.continuation) = AsyncStream.makeStream(of: Delivery.self)
    }

    /// Schedules the webhooks of a new payment.
    func schedule(_ payment: ProviderPayment, outcome: String) {
        self.continuation.yield(Delivery(payment: payment, outcome: outcome))
    }

    func run() async throws {
        // On shutdown, deliveries still waiting or retrying are dropped (a simulator keeps no state).
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await delivery in self.deliveries {
                    group.addTask { await self.deliver(delivery) }
                }
            }
        }
        self.continuation.finish()
        try? await self.http.shutdown()
    }

    private func deliver(_ delivery: Delivery) async {
        let settings = self.state.settings
        try? await Task.sleep(for: .milliseconds(settings.webhookDelayMs))
        if Task.isCancelled { return }
        var events = [
            self.event("payment.processing", delivery.payment, status: "processing"),
            self.event(
                delivery.outcome,
                delivery.payment,
                status: delivery.outcome == "payment.succeeded" ? "succeeded" : "failed"
            ),
        ]
        if settings.reorderWebhooks { events.reverse() }
        for event in events {
            for _ in 0..<(settings.duplicateWebhooks ? 2 : 1) {
                await self.send(event, to: delivery.payment.callbackUrl)
            }
        }
    }

    private func event(_ type: String, _ payment: ProviderPayment, status: String) -> [UInt8] {
        let json = """
            {"created":\(Int(Date().timeIntervalSince1970)),"data":{"amount":"\(payment.amount)","currency":"\(payment.currency)",\
            "orderId":"\(payment.orderId)","paymentId":"\(payment.id)","reference":"\(payment.reference)",\
            "status":"\(status)"},\
            "id":"evt_\(UUID().uuidString.lowercased())","type":"\(type)"}
            """
        return Array(json.utf8)
    }

    private func send(_ body: [UInt8], to url: String) async {
        let giveUp = ContinuousClock.now + .seconds(600)
        var attempt = 0
        while ContinuousClock.now < giveUp {
            self.state.count { $0.webhooksSent += 1 }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Signature", value: self.signature.header(for: body))
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await self.http.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(response.status.code) {
                    self.state.count { $0.webhooksAccepted += 1 }
                    return
                }
            } catch {
                self.logger.debug("webhook delivery failed", metadata: ["error": "\(error)"])
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: .milliseconds(min(5_000, 100 << min(attempt, 6))))
            attempt += 1
        }
        self.logger.warning("webhook given up after 10 minutes", metadata: ["url": "\(url)"])
    }
}
