import AsyncHTTPClient
import Logging
import PostgresNIO
import RedisLock
import StreamQueue

/// The payments module as `buildApplication` wires it: provider client, routes, and the consumer of the
/// provider's events.
struct Payments: Sendable {
    let controller: PaymentsController
    let consumer: QueueConsumer

    init(
        configuration: PaymentsConfiguration,
        postgres: Database,
        locks: RedisLocks,
        messaging: Messaging,
        notifications: Notifications,
        listening: ListeningAddress,
        logger: Logger
    ) {
        let repository = PaymentRepository(client: postgres, logger: logger)
        let relay = messaging.relay
        self.controller = PaymentsController(
            service: PaymentService(
                repository: repository,
                client: PaymentsClient(configuration: configuration, http: HTTPClient.shared, logger: logger),
                signature: WebhookSignature(
                    secret: configuration.webhookSecret,
                    tolerance: configuration.webhookTolerance
                ),
                eventAccepted: { relay.nudge() },
                logger: logger
            ),
            repository: repository,
            listening: listening
        )
        let processor = PaymentEventProcessor(
            postgres: postgres,
            locks: locks,
            notifications: notifications,
            logger: logger
        )
        self.consumer = messaging.consumer(topic: "payments", group: PaymentEventProcessor.consumer, ordering: .perKey)
        {
            message in try await processor.handle(message)
        }
    }
}
