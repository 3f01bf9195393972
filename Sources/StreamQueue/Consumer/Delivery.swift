import RedisClient

/// Which of a group's two streams an entry came from.
enum StreamKind: Sendable, Hashable {
    /// The topic's stream (published messages).
    case topic
    /// The group's retry stream (promoted retries, replayed dead letters); its entries are deleted once done.
    case retry
}

/// Identifies a delivery held by a consumer.
struct DeliveryHandle: Sendable, Hashable {
    var kind: StreamKind
    var entryID: String
}

/// A message read from one of the group's streams, held by this consumer until it is done with it.
struct Delivery: Sendable {
    var kind: StreamKind
    var entry: RedisStreamEntry
    var message: QueueMessage

    var handle: DeliveryHandle { DeliveryHandle(kind: self.kind, entryID: self.entry.id) }
}
