import Foundation
public import RedisClient
import Tracing

extension StreamQueue {
    /// Publishes a message to a topic's stream, trimming the stream to the topic's retention.
    ///
    /// When this returns, Redis has accepted the message: it is in the stream (with the durability the server is
    /// configured for, see `docs/queue.md`). An outbox relay marks its row as sent only after this returns.
    /// - Parameters:
    ///   - message: The message.
    ///   - topic: The topic (1–200 characters, no `{`, `}` or control characters).
    ///   - deduplicationWindow: When set, a message whose id was already published to this topic within the
    ///     window is not added again (the receipt says so and names the first entry). Costs one small key per
    ///     message for the window. Useful for relays that may publish a row twice after a crash.
    /// - Returns: The receipt: the entry id, and whether the message was a duplicate.
    /// - Throws: ``StreamQueueError`` for an invalid topic or message; `RedisError` when Redis did not accept it
    ///   (then it may or may not have been added: publish it again, consumers dedupe on the id).
    @discardableResult
    public func publish(
        _ message: OutgoingMessage,
        to topic: String,
        deduplicationWindow: Duration? = nil
    ) async throws -> PublishReceipt {
        try TopicKeys.validate(topic)
        try message.validate()
        let (span, traced) = QueueTracing.startPublishing(message, topic: topic)
        defer { span.end() }
        do {
            let command = self.publishCommand(traced, topic: topic, deduplicationWindow: deduplicationWindow)
            let reply: RESPValue
            do {
                reply = try await ServiceContext.withValue(span.context) { try await self.client.send(command) }
            } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
                // The server lost its script cache (restart, SCRIPT FLUSH): load it; the command did not run.
                try await self.client.scriptLoad(QueueScripts.publishOnce)
                reply = try await ServiceContext.withValue(span.context) { try await self.client.send(command) }
            }
            let receipt = try Self.receipt(for: message, reply: reply)
            self.metrics.published(topic: topic, duplicate: receipt.isDuplicate)
            Self.annotate(span, with: receipt)
            return receipt
        } catch {
            span.recordError(error)
            throw error
        }
    }

    private static func annotate(_ span: any Span, with receipt: PublishReceipt) {
        guard span.isRecording else { return }
        span.attributes["messaging.redis_streams.entry_id"] = receipt.entryID
        if receipt.isDuplicate { span.attributes["messaging.redis_streams.duplicate"] = true }
    }

    /// Publishes several messages to one topic in one pipeline (one round trip); each has its own result.
    /// - Parameters:
    ///   - messages: The messages.
    ///   - topic: The topic.
    ///   - deduplicationWindow: As for ``publish(_:to:deduplicationWindow:)``.
    /// - Returns: One result per message, in order: the receipt, or why Redis refused it.
    /// - Throws: ``StreamQueueError`` for an invalid topic or message (then nothing is sent); `RedisError` when
    ///   the pipeline failed as a whole (connection lost: each message may or may not have been added).
    public func publish(
        _ messages: [OutgoingMessage],
        to topic: String,
        deduplicationWindow: Duration? = nil
    ) async throws -> [Result<PublishReceipt, RedisError>] {
        try TopicKeys.validate(topic)
        for message in messages { try message.validate() }
        // One producer span per message: each may continue a different trace (a relay's batch).
        let traced = messages.map { QueueTracing.startPublishing($0, topic: topic) }
        let commands = traced.map {
            self.publishCommand($0.message, topic: topic, deduplicationWindow: deduplicationWindow)
        }
        var replies: [Result<RESPValue, RedisError>]
        do {
            replies = try await self.client.pipeline(commands)
        } catch {
            for (span, _) in traced {
                span.recordError(error)
                span.end()
            }
            throw error
        }
        let unknownScript = replies.indices.filter { index in
            if case .failure(let error) = replies[index], error.serverErrorPrefix == "NOSCRIPT" { return true }
            return false
        }
        if !unknownScript.isEmpty {
            // Those did not run: load the script and send them again.
            try await self.client.scriptLoad(QueueScripts.publishOnce)
            let retried = try await self.client.pipeline(unknownScript.map { commands[$0] })
            for (index, reply) in zip(unknownScript, retried) { replies[index] = reply }
        }
        var results: [Result<PublishReceipt, RedisError>] = []
        results.reserveCapacity(messages.count)
        for ((message, reply), (span, _)) in zip(zip(messages, replies), traced) {
            switch reply {
            case .success(let value):
                do {
                    let receipt = try Self.receipt(for: message, reply: value)
                    self.metrics.published(topic: topic, duplicate: receipt.isDuplicate)
                    Self.annotate(span, with: receipt)
                    results.append(.success(receipt))
                } catch {
                    span.recordError(error)
                    results.append(.failure(RedisError(.unexpectedReply, "\(error)")))
                }
            case .failure(let error):
                span.recordError(error)
                results.append(.failure(error))
            }
            span.end()
        }
        return results
    }

    private func publishCommand(
        _ message: OutgoingMessage,
        topic: String,
        deduplicationWindow: Duration?
    ) -> RedisCommand {
        let keys = self.keys(topic)
        let published = message.publishedMilliseconds
        let trim = self.trimArguments(topic)
        var command: RedisCommand
        if let window = deduplicationWindow {
            command = RedisCommand("EVALSHA", capacity: 256 + message.payload.readableBytes)
            command.append(QueueScripts.publishOnce.sha1)
            command.append(2)
            command.appendKey(keys.stream)
            command.appendKey(keys.published(message.id))
            command.append(Int(max(1, window.milliseconds)))
            command.append(trim?.kind ?? "-")
            command.append(trim?.value ?? "0")
        } else {
            command = RedisCommand("XADD", capacity: 192 + message.payload.readableBytes)
            command.appendKey(keys.stream)
            if let trim {
                command.append(trim.kind)
                command.append("~")
                command.append(trim.value)
            }
            command.append("*")
        }
        message.appendFields(to: &command, publishedMilliseconds: published)
        return command
    }

    private func trimArguments(_ topic: String) -> (kind: String, value: String)? {
        switch self.configuration.retention(of: topic) {
        case .maxLength(let length):
            return ("MAXLEN", String(max(0, length)))
        case .maxAge(let age):
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            return ("MINID", String(max(0, now - age.milliseconds)))
        case .unlimited:
            return nil
        }
    }

    private static func receipt(for message: OutgoingMessage, reply: RESPValue) throws -> PublishReceipt {
        switch reply {
        case .array(let parts) where parts.count == 2:
            let added = try parts[0].decode(as: Int.self)
            return PublishReceipt(
                messageID: message.id,
                entryID: try parts[1].decode(as: String.self),
                isDuplicate: added == 0
            )
        default:
            return PublishReceipt(messageID: message.id, entryID: try reply.decode(as: String.self), isDuplicate: false)
        }
    }
}
