import Logging
import RedisClient

extension ConsumerRun {
    /// Acknowledges a handled delivery (and deletes it from the retry stream). A failed acknowledgement leaves
    /// the message pending: it is handled again after the visibility timeout (at least once).
    func acknowledge(_ delivery: Delivery) async {
        guard !self.scheduler.isLost(delivery.handle) else {
            self.logger.debug("queue message was taken over while handled; not acknowledged")
            return
        }
        for attempt in 1...3 {
            do {
                switch delivery.kind {
                case .topic:
                    var command = RedisCommand("XACK")
                    command.appendKey(self.keys.stream)
                    command.append(self.group)
                    command.append(delivery.entry.id)
                    _ = try await self.client.send(command)
                case .retry:
                    let history = self.consumer.queue.configuration.historyArguments
                    _ = try await self.client.eval(
                        QueueScripts.ackAndDelete,
                        keys: [self.keys.retry(self.group), self.keys.history(delivery.message.id)],
                        arguments: [
                            self.group, delivery.entry.id, history.limit, history.milliseconds, self.name,
                            delivery.message.attempt,
                        ]
                    )
                }
                self.metrics.succeeded.increment()
                return
            } catch {
                if attempt == 3 || Task.isCancelled {
                    self.logger.warning(
                        "queue acknowledgement failed; the message will be delivered again",
                        metadata: ["queue.message": .string(delivery.message.id), "error": "\(error)"]
                    )
                    return
                }
                try? await Task.sleep(for: Self.backoff(attempt))
            }
        }
    }

    /// Acknowledges a failed delivery and puts the message in the delayed set, due after `delay` (one script).
    /// - Parameter previousAttempt: Header fields carrying the failed attempt's trace context (replacing an
    ///   earlier attempt's), so the retry's span links it.
    func scheduleRetry(
        _ delivery: Delivery,
        attempt: Int,
        error: String,
        delay: Duration,
        previousAttempt: [String: String] = [:]
    ) async {
        let history = self.consumer.queue.configuration.historyArguments
        var arguments: [any RESPArgument] = [
            self.group, self.name, delivery.entry.id, Int(delay.milliseconds), delivery.kind == .retry ? 1 : 0,
            history.limit, history.milliseconds, attempt, error,
        ]
        var replacing = [MessageField.attempt: String(attempt + 1), MessageField.lastError: error]
        replacing.merge(previousAttempt) { $1 }
        arguments += delivery.entry.fieldArguments(replacing: replacing)
        do {
            let reply = try await self.client.eval(
                QueueScripts.scheduleRetry,
                keys: [
                    self.streamKey(delivery.kind), self.keys.delayed(self.group),
                    self.keys.history(delivery.message.id),
                ],
                arguments: arguments
            )
            if try reply.decode(as: Int.self) == 1 {
                self.metrics.retried.increment()
                self.metrics.retries.increment()
            }
        } catch {
            self.logger.warning(
                "queue could not schedule a retry; the message will be delivered again",
                metadata: ["queue.message": .string(delivery.message.id), "error": "\(error)"]
            )
        }
    }

    /// Acknowledges a delivery and adds it to the topic's dead letters with why (one script).
    func deadLetter(_ delivery: Delivery, reason: DeadLetterReason, error: String, attempts: Int) async {
        let configuration = self.consumer.queue.configuration
        let history = configuration.historyArguments(forMessageID: delivery.message.id)
        var arguments: [any RESPArgument] = [
            self.group, self.name, delivery.entry.id, delivery.kind == .retry ? 1 : 0,
            configuration.deadLetterMaxLength, history.limit, history.milliseconds, reason.rawValue, error, attempts,
            MessageField.deadGroup, self.group,
            MessageField.deadReason, reason.rawValue,
            MessageField.deadError, error,
            MessageField.deadEntry, delivery.entry.id,
            MessageField.deadAttempts, attempts,
            MessageField.deadDeliveries, delivery.message.deliveryCount,
        ]
        arguments += delivery.entry.fieldArguments(removing: [MessageField.lastError])
        do {
            let reply = try await self.client.eval(
                QueueScripts.deadLetter,
                keys: [
                    self.streamKey(delivery.kind), self.keys.dead, self.keys.history(delivery.message.id),
                ],
                arguments: arguments
            )
            if try reply.decode(as: Int.self) == 1 {
                self.metrics.deadLettered.increment()
                self.metrics.deadLettered(reason)
                self.logger.warning(
                    "queue message dead-lettered",
                    metadata: [
                        "queue.message": .string(delivery.message.id), "queue.type": .string(delivery.message.type),
                        "queue.reason": .string(reason.rawValue), "queue.attempts": .stringConvertible(attempts),
                    ]
                )
            }
        } catch {
            self.logger.warning(
                "queue could not dead-letter a message; it will be delivered again",
                metadata: ["queue.message": .string(delivery.message.id), "error": "\(error)"]
            )
        }
    }

    /// Hands deliveries this consumer holds but will not handle back to the group: their idle time is set to the
    /// visibility timeout, so other consumers take them over at their next reclaim instead of waiting.
    func handBack(_ deliveries: [Delivery]) async {
        guard !deliveries.isEmpty else { return }
        _ = await self.touch(
            deliveries.map(\.handle),
            idle: Int(self.configuration.visibilityTimeout.milliseconds)
        )
        self.logger.debug(
            "queue consumer handed unstarted messages back",
            metadata: ["queue.count": .stringConvertible(deliveries.count)]
        )
    }

    /// Renews (idle 0) or hands back (idle = visibility timeout) deliveries still owned by this consumer.
    /// - Returns: The deliveries another consumer owns now.
    func touch(_ handles: [DeliveryHandle], idle: Int) async -> [DeliveryHandle] {
        var lost: [DeliveryHandle] = []
        for kind in [StreamKind.topic, .retry] {
            let ids = handles.filter { $0.kind == kind }.map(\.entryID)
            guard !ids.isEmpty else { continue }
            var arguments: [any RESPArgument] = [self.group, self.name, idle]
            arguments += ids.map { $0 as any RESPArgument }
            do {
                let reply = try await self.client.eval(
                    QueueScripts.touch,
                    keys: [self.streamKey(kind)],
                    arguments: arguments
                )
                lost += try reply.decode(as: [String].self).map { DeliveryHandle(kind: kind, entryID: $0) }
            } catch {
                self.logger.warning("queue could not renew held messages", metadata: ["error": "\(error)"])
            }
        }
        return lost
    }
}
