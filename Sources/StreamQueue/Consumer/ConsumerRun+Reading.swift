import Logging
import NIOCore
import RedisClient

extension ConsumerRun {
    /// Reads new messages with `XREADGROUP ... BLOCK` on a connection of its own, asking for no more than the
    /// free slots, until shutdown.
    func readLoop() async {
        defer { self.readerStopped.fire() }
        var failures = 0
        let streams = [(key: self.keys.stream, id: ">"), (key: self.keys.retry(self.group), id: ">")]
        while !self.isStopping {
            do {
                // On a cluster, the connection is to the node that owns the topic's slot (its streams share a tag).
                try await self.client.withConnection(routingKey: self.keys.stream) { connection in
                    let id = try await connection.clientID()
                    self.readerClientID.withLockedValue { $0 = id }
                    defer { self.readerClientID.withLockedValue { $0 = nil } }
                    while !self.isStopping {
                        let slots = await self.scheduler.waitForSlots()
                        guard slots > 0, !self.isStopping else { return }
                        let read = try await connection.xreadgroup(
                            group: self.group,
                            consumer: self.name,
                            streams: streams,
                            count: min(slots, max(1, self.configuration.readBatchSize)),
                            block: self.configuration.blockTimeout
                        )
                        failures = 0
                        var deliveries: [Delivery] = []
                        for (stream, entries) in read {
                            let kind: StreamKind = stream == self.keys.stream ? .topic : .retry
                            for entry in entries {
                                if let delivery = await self.delivery(kind: kind, entry: entry, deliveries: 1) {
                                    deliveries.append(delivery)
                                }
                            }
                        }
                        await self.accept(deliveries)
                    }
                }
            } catch {
                if self.isStopping { break }
                failures += 1
                await self.recover(from: error, in: "read", failures: failures)
            }
        }
    }

    /// Exclusive mode, on becoming active: claims everything pending in the group (whatever its idle time: the
    /// previous active consumer's lease is gone), page by page as slots free up, in stream order, before any new
    /// message is read, so newer messages of a key never overtake older ones.
    func takeOverPending() async {
        var failures = 0
        for kind in [StreamKind.topic, .retry] {
            var cursor = "-"
            repeat {
                let free = await self.scheduler.waitForSlots()
                guard free > 0, !self.isStopping else { return }
                do {
                    let (next, claimed) = try await self.reclaim(
                        kind,
                        cursor: cursor,
                        count: min(free, 100),
                        minIdle: 0
                    )
                    failures = 0
                    cursor = next
                    await self.accept(claimed)
                } catch {
                    failures += 1
                    await self.recover(from: error, in: "takeover", failures: failures)
                }
            } while cursor != "-" && !self.isStopping
        }
    }

    /// On graceful shutdown, wakes the reader from its blocking read (`CLIENT UNBLOCK` from another connection)
    /// until it has stopped.
    func unblockReaderOnShutdown() async {
        await self.shutdown.wait()
        for _ in 0..<200 where !Task.isCancelled && !self.readerStopped.isFired {
            if let id = self.readerClientID.withLockedValue({ $0 }) {
                var unblock = RedisCommand("CLIENT", "UNBLOCK", id)
                unblock.recordKey(self.keys.stream)  // on a cluster: the node the reader's connection is on
                _ = try? await self.client.send(unblock)
            }
            if await self.readerStopped.wait(upTo: .milliseconds(50)) { break }
        }
    }

    /// Turns an entry into a delivery; a malformed one goes to the dead letters at once.
    func delivery(kind: StreamKind, entry: RedisStreamEntry, deliveries: Int) async -> Delivery? {
        if let message = QueueMessage(entry: entry, topic: self.consumer.topic, deliveryCount: deliveries) {
            return Delivery(kind: kind, entry: entry, message: message)
        }
        let placeholder = QueueMessage(id: "", type: "", payload: ByteBuffer(), topic: self.consumer.topic)
        self.logger.warning(
            "queue entry is not a message (missing id, type or payload); dead-lettered",
            metadata: ["queue.entry": .string(entry.id)]
        )
        await self.deadLetter(
            Delivery(kind: kind, entry: entry, message: placeholder),
            reason: .malformed,
            error: "the entry is missing the id, type or payload field",
            attempts: 0
        )
        return nil
    }

    /// Hands deliveries to the workers; ones that arrive after shutdown are handed back to the group.
    func accept(_ deliveries: [Delivery]) async {
        guard !deliveries.isEmpty else { return }
        let refused = self.scheduler.add(deliveries)
        if !refused.isEmpty { await self.handBack(refused) }
    }

    /// Takes over messages that other (dead or stalled) consumers left pending longer than the visibility timeout.
    func reclaimLoop() async {
        var cursors: [StreamKind: String] = [.topic: "-", .retry: "-"]
        var failures = 0
        var lastCleanup = NIODeadline.now()
        while !self.isStopping {
            var more = false
            for kind in [StreamKind.topic, .retry] {
                let free = self.scheduler.freeSlots
                guard free > 0, !self.isStopping else { break }
                do {
                    let (next, claimed) = try await self.reclaim(
                        kind,
                        cursor: cursors[kind] ?? "-",
                        count: min(free, 100)
                    )
                    failures = 0
                    cursors[kind] = next
                    // `-`: the scan reached the end of the pending list (and starts over next time).
                    if next != "-" { more = true }
                    await self.accept(claimed)
                } catch {
                    failures += 1
                    await self.recover(from: error, in: "reclaim", failures: failures)
                }
            }
            if let idleLimit = self.configuration.removeIdleConsumersAfter,
                NIODeadline.now() - lastCleanup >= .seconds(60)
            {
                lastCleanup = .now()
                await self.removeIdleConsumers(idleFor: idleLimit)
            }
            if !more {
                await self.shutdown.wait(upTo: self.configuration.effectiveReclaimInterval)
            }
        }
    }

    /// One reclaim pass over a page of the pending list.
    /// - Returns: Where the next page starts (`-` when the scan is complete) and the deliveries claimed, in
    ///   entry id order.
    func reclaim(
        _ kind: StreamKind,
        cursor: String,
        count: Int,
        minIdle: Int? = nil
    ) async throws -> (String, [Delivery]) {
        let minIdle = minIdle ?? Int(self.configuration.visibilityTimeout.milliseconds)
        let reply = try await self.client.eval(
            QueueScripts.reclaim,
            keys: [self.streamKey(kind), self.keys.dead],
            arguments: [
                self.group, self.name, minIdle, cursor, count,
                max(1, self.configuration.maxDeliveries), kind == .retry ? 1 : 0,
                self.consumer.queue.configuration.deadLetterMaxLength,
                "delivery limit exceeded (consumer crashed or timed out)",
            ]
        )
        guard case .array(let parts) = reply, parts.count == 6, case .array(let rows) = parts[1],
            case .array(let events) = parts[5]
        else {
            throw StreamQueueError.malformedReply("reclaim script")
        }
        await self.recordHistory(events)
        let next = try parts[0].decode(as: String.self)
        let dead = try parts[2].decode(as: Int.self)
        let gone = try parts[3].decode(as: Int.self)
        if dead > 0 {
            self.metrics.deadLettered(.deliveryLimit, count: dead)
            self.metrics.deadLettered.increment(by: dead)
            self.logger.warning(
                "queue messages exceeded the delivery limit (their consumers crashed or stalled); dead-lettered",
                metadata: ["queue.count": .stringConvertible(dead)]
            )
        }
        if gone > 0 {
            self.logger.warning(
                "queue pending messages were trimmed from the stream before they were handled; raise the retention",
                metadata: ["queue.count": .stringConvertible(gone)]
            )
        }
        var claimed = await self.ownIdle(kind, ids: try parts[4].decode(as: [String].self), minIdle: minIdle)
        for row in rows {
            guard case .array(let fields) = row, fields.count == 3 else {
                throw StreamQueueError.malformedReply("reclaim script entry")
            }
            let entry = try RedisStreamEntry.decodeReclaimed(id: fields[0], fields: fields[1])
            let deliveries = try fields[2].decode(as: Int.self)
            if let delivery = await self.delivery(kind: kind, entry: entry, deliveries: deliveries) {
                claimed.append(delivery)
            }
        }
        claimed.sort { StreamEntryID($0.entry.id) < StreamEntryID($1.entry.id) }
        if !claimed.isEmpty {
            self.metrics.reclaimed.increment(by: claimed.count)
            self.logger.info(
                "queue consumer took over messages left by another consumer",
                metadata: ["queue.consumer": .string(self.name), "queue.count": .stringConvertible(claimed.count)]
            )
        }
        return (next, claimed)
    }

    /// Records the history events a reclaim returned (`{message id, event JSON}` pairs), in one pipeline. The
    /// history is informational: a failure here is logged and the events are not retried.
    private func recordHistory(_ events: [RESPValue]) async {
        let history = self.consumer.queue.configuration.historyArguments
        guard !events.isEmpty, history.limit > 0 else { return }
        var commands: [RedisCommand] = []
        for event in events {
            guard let pair = try? event.decode(as: [String].self), pair.count == 2 else { continue }
            let key = self.keys.history(pair[0])
            commands.append(RedisCommand("RPUSH", key: key, pair[1]))
            commands.append(RedisCommand("LTRIM", key: key, -history.limit, -1))
            commands.append(RedisCommand("PEXPIRE", key: key, history.milliseconds))
        }
        do {
            _ = try await self.client.pipeline(commands)
        } catch {
            self.logger.debug("queue history of reclaimed messages not recorded", metadata: ["error": "\(error)"])
        }
    }

    /// Handles this consumer's own deliveries that went idle past the visibility timeout: ones it still holds are
    /// renewed (the heartbeat was late), ones it no longer holds (an acknowledgement that failed) are claimed
    /// again and handled.
    private func ownIdle(_ kind: StreamKind, ids: [String], minIdle: Int) async -> [Delivery] {
        guard !ids.isEmpty else { return [] }
        let handles = ids.map { DeliveryHandle(kind: kind, entryID: $0) }
        let held = handles.filter { self.scheduler.isHeld($0) }
        if !held.isEmpty { _ = await self.touch(held, idle: 0) }
        let orphaned = handles.filter { !self.scheduler.isHeld($0) }.map(\.entryID)
        guard !orphaned.isEmpty else { return [] }
        var command = RedisCommand("XCLAIM")
        command.appendKey(self.streamKey(kind))
        command.append(self.group)
        command.append(self.name)
        command.append(minIdle)
        command.append(contentsOf: orphaned)
        do {
            guard case .array(let entries) = try await self.client.send(command) else { return [] }
            var deliveries: [Delivery] = []
            for value in entries {
                guard case .array(let pair) = value, pair.count == 2, !pair[1].isNull else { continue }
                let entry = try RedisStreamEntry.decodeReclaimed(id: pair[0], fields: pair[1])
                if let delivery = await self.delivery(kind: kind, entry: entry, deliveries: 2) {
                    deliveries.append(delivery)
                }
            }
            return deliveries
        } catch {
            self.logger.warning("queue could not claim its own idle messages", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// Logs a Redis failure of a loop, recreates the groups if they vanished, and backs off.
    func recover(from error: any Error, in loop: String, failures: Int) async {
        if let redisError = error as? RedisError, redisError.serverErrorPrefix == "NOGROUP" {
            self.logger.warning("queue group or stream vanished; creating it again")
            try? await self.createGroups()
        } else if failures == 1 || failures % 20 == 0 {
            self.logger.warning(
                "queue consumer \(loop) failed; retrying",
                metadata: ["error": "\(error)", "queue.failures": .stringConvertible(failures)]
            )
        }
        await self.shutdown.wait(upTo: Self.backoff(failures))
    }
}

/// A stream entry id, ordered as Redis orders them (milliseconds, then sequence).
struct StreamEntryID: Comparable {
    var milliseconds: UInt64
    var sequence: UInt64

    init(_ id: String) {
        let parts = id.split(separator: "-", maxSplits: 1)
        self.milliseconds = parts.first.flatMap { UInt64($0) } ?? 0
        self.sequence = parts.count > 1 ? UInt64(parts[1]) ?? 0 : 0
    }

    static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}

extension RedisStreamEntry {
    /// Reads `id` and a flat `[field, value, ...]` array as returned by a script.
    static func decodeReclaimed(id: RESPValue, fields: RESPValue) throws -> RedisStreamEntry {
        guard case .array(let flat) = fields, flat.count % 2 == 0 else {
            throw StreamQueueError.malformedReply("stream entry fields")
        }
        var values: [String: ByteBuffer] = [:]
        var index = 0
        while index < flat.count {
            values[try flat[index].decode(as: String.self)] = try flat[index + 1].decode(as: ByteBuffer.self)
            index += 2
        }
        return RedisStreamEntry(id: try id.decode(as: String.self), fields: values)
    }
}
