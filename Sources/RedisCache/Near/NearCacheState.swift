/// The bookkeeping of a near cache: an in-process copy of Redis entries, bounded in entries and bytes (least
/// recently used first out), dropped key by key when Redis says a key changed, and dropped entirely when the
/// invalidation channel is not proven healthy. A pure state machine (no clock, no I/O, not thread-safe): its owner
/// passes the time in, serializes the calls, and does the I/O.
///
/// The bound it keeps: a value is served only while a proof of the invalidation channel *sent* at most
/// ``Limits/staleness`` ago has come back. A proof is a write the owner makes to a tracked key and sees come back as
/// an invalidation; Redis sends invalidations in the order it executes the writes, so when a proof sent at `t` is
/// back, every invalidation of a write made before `t` is back too. A value served at `now` can therefore only miss
/// writes made after `now - staleness`.
///
/// A fill is the value read from Redis on a miss. It is kept only when no invalidation of its key (and no flush)
/// arrived between ``beginFill(_:)`` and ``completeFill(_:value:bytes:expiresAt:now:)``, so a read that raced with a
/// write never stores the old value after the write's invalidation went by.
struct NearCacheState<Value> {
    /// The bounds.
    struct Limits: Sendable, Equatable {
        /// Entries kept at most.
        var maxEntries: Int
        /// Bytes (as the owner counts them) kept at most.
        var maxBytes: Int
        /// How old the last returned proof may be, counted from when it was sent.
        var staleness: Duration
    }

    /// What ``lookup(_:now:)`` found.
    enum Lookup {
        case hit(Value)
        case miss
        /// The channel is not proven: nothing is served, and fills are not kept.
        case unproven
    }

    /// A read in progress, from ``beginFill(_:)``; complete or abandon it exactly once.
    struct FillTicket: Sendable, Hashable {
        let key: String
        let id: UInt64
    }

    /// What happened, for metrics.
    struct Counts: Sendable, Equatable {
        var hits = 0
        var misses = 0
        /// Entries dropped because Redis said their key changed.
        var invalidations = 0
        /// Entries dropped to stay within the bounds.
        var evictions = 0
        /// Times entries were dropped all at once (``flush()``, a lost channel, a lapsed proof); a flush of an
        /// empty cache is not counted.
        var flushes = 0
        /// Fills not kept because their key changed, or everything was dropped, while they were read.
        var discardedFills = 0
    }

    private struct Node {
        var key: String
        var value: Value
        var bytes: Int
        var expiresAt: ContinuousClock.Instant
        var newer: Int? = nil
        var older: Int? = nil
    }

    let limits: Limits
    private(set) var counts = Counts()
    private(set) var bytes = 0
    private var nodes: [Node?] = []
    private var free: [Int] = []
    private var index: [String: Int] = [:]
    private var newest: Int?
    private var oldest: Int?
    /// The tickets of the reads in progress, per key, that may still be kept. A read missing here (begun while
    /// unproven, or its key changed or everything was dropped since it began) is spoiled.
    private var fills: [String: Set<UInt64>] = [:]
    private var nextFill: UInt64 = 0
    /// Until when the last proof makes values servable; nil: never proven since the last loss.
    private var provenUntil: ContinuousClock.Instant?
    /// Which invalidation channel is current: ``channelLost()`` starts a new one, and proofs sent on an earlier one
    /// no longer count.
    private(set) var channel: UInt64 = 0

    init(limits: Limits) {
        precondition(limits.maxEntries > 0 && limits.maxBytes > 0, "a near cache needs room for an entry")
        self.limits = limits
    }

    /// Entries kept.
    var count: Int { self.index.count }

    /// Whether values may be served at `now`.
    func isProven(at now: ContinuousClock.Instant) -> Bool {
        guard let provenUntil else { return false }
        return now < provenUntil
    }

    // MARK: Reads

    /// The value of `key`, if kept, fresh and the channel proven; marks it the most recently used. A lapsed proof
    /// drops everything first.
    mutating func lookup(_ key: String, now: ContinuousClock.Instant) -> Lookup {
        guard self.checkProof(now: now) else { return .unproven }
        guard let slot = self.index[key], let node = self.nodes[slot] else {
            self.counts.misses += 1
            return .miss
        }
        guard now < node.expiresAt else {
            self.remove(slot)
            self.counts.misses += 1
            return .miss
        }
        self.touch(slot)
        self.counts.hits += 1
        return .hit(node.value)
    }

    /// Starts a read of `key` from Redis; pass the ticket to ``completeFill(_:value:bytes:expiresAt:now:)`` (or
    /// ``abandonFill(_:)``) when it ends. A read begun before the current channel's first proof is never kept: it may
    /// have read a value whose change the channel, not yet listening, will never report.
    mutating func beginFill(_ key: String) -> FillTicket {
        self.nextFill &+= 1
        if self.provenUntil != nil { self.fills[key, default: []].insert(self.nextFill) }
        return FillTicket(key: key, id: self.nextFill)
    }

    /// Ends a read: keeps `value` unless its key changed during the read, the channel is not proven, it is
    /// already expired, or it alone exceeds the byte bound. Returns whether it was kept.
    @discardableResult
    mutating func completeFill(
        _ ticket: FillTicket,
        value: Value,
        bytes: Int,
        expiresAt: ContinuousClock.Instant,
        now: ContinuousClock.Instant
    ) -> Bool {
        let changed = self.endFill(ticket)
        if changed {
            self.counts.discardedFills += 1
            return false
        }
        guard self.checkProof(now: now), now < expiresAt, bytes <= self.limits.maxBytes else { return false }
        if let slot = self.index[ticket.key] { self.remove(slot) }
        self.insert(Node(key: ticket.key, value: value, bytes: bytes, expiresAt: expiresAt))
        while self.index.count > self.limits.maxEntries || self.bytes > self.limits.maxBytes, let oldest {
            self.remove(oldest)
            self.counts.evictions += 1
        }
        return true
    }

    /// Ends a read that produced nothing to keep.
    mutating func abandonFill(_ ticket: FillTicket) {
        _ = self.endFill(ticket)
    }

    // MARK: What Redis says

    /// Redis says `keys` changed: drops them, and spoils reads of them in progress.
    mutating func invalidate(_ keys: some Sequence<String>) {
        for key in keys {
            self.fills[key] = nil
            if let slot = self.index[key] {
                self.remove(slot)
                self.counts.invalidations += 1
            }
        }
    }

    /// Drops everything and spoils every read in progress (Redis flushed, or an invalidation may have been lost).
    mutating func flush() {
        if !self.fills.isEmpty { self.fills.removeAll() }
        guard !self.index.isEmpty else { return }
        self.nodes = []
        self.free = []
        self.index = [:]
        self.newest = nil
        self.oldest = nil
        self.bytes = 0
        self.counts.flushes += 1
    }

    /// A proof sent at `sentAt` on `channel` (the value of ``channel`` when it was sent) came back: values are
    /// servable until `sentAt + staleness`. A proof of an earlier channel changes nothing.
    mutating func proved(sentAt: ContinuousClock.Instant, channel: UInt64) {
        guard channel == self.channel else { return }
        let until = sentAt.advanced(by: self.limits.staleness)
        if let provenUntil, provenUntil >= until { return }
        self.provenUntil = until
    }

    /// The invalidation channel is gone: drops everything; nothing is served, and no read begun from now on is
    /// kept, until a proof sent on the next channel comes back.
    mutating func channelLost() {
        self.channel &+= 1
        self.provenUntil = nil
        self.flush()
    }

    // MARK: Internals

    /// False (after dropping everything) when the proof lapsed.
    private mutating func checkProof(now: ContinuousClock.Instant) -> Bool {
        if self.isProven(at: now) { return true }
        self.flush()
        return false
    }

    /// Forgets the read; true when it is spoiled (or the ticket was already used).
    private mutating func endFill(_ ticket: FillTicket) -> Bool {
        guard var readers = self.fills[ticket.key], readers.remove(ticket.id) != nil else { return true }
        self.fills[ticket.key] = readers.isEmpty ? nil : readers
        return false
    }

    private mutating func insert(_ node: Node) {
        var node = node
        node.older = self.newest
        node.newer = nil
        let slot: Int
        if let reused = self.free.popLast() {
            slot = reused
            self.nodes[slot] = node
        } else {
            slot = self.nodes.count
            self.nodes.append(node)
        }
        if let newest { self.nodes[newest]?.newer = slot }
        self.newest = slot
        if self.oldest == nil { self.oldest = slot }
        self.index[node.key] = slot
        self.bytes += node.bytes
    }

    private mutating func remove(_ slot: Int) {
        guard let node = self.nodes[slot] else { return }
        self.unlink(slot, node)
        self.nodes[slot] = nil
        self.free.append(slot)
        self.index[node.key] = nil
        self.bytes -= node.bytes
    }

    private mutating func touch(_ slot: Int) {
        guard self.newest != slot, let node = self.nodes[slot] else { return }
        self.unlink(slot, node)
        self.nodes[slot]?.older = self.newest
        self.nodes[slot]?.newer = nil
        if let newest { self.nodes[newest]?.newer = slot }
        self.newest = slot
    }

    private mutating func unlink(_ slot: Int, _ node: Node) {
        if let newer = node.newer { self.nodes[newer]?.older = node.older } else { self.newest = node.older }
        if let older = node.older { self.nodes[older]?.newer = node.newer } else { self.oldest = node.newer }
    }
}

extension NearCacheState.Lookup: Equatable where Value: Equatable {}
