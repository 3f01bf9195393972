/// Where the sharded subscriptions of a cluster live: each subscription split into legs, one per hash slot of its
/// channels (one `SSUBSCRIBE` may only name channels of one slot), and each leg placed on the subscriber connection
/// of the node that owns its slot.
///
/// A pure state machine (no I/O, no locks), driven by ``ShardedSubscriber`` under its lock; generic over the node so
/// tests use plain values. A leg is in one of three states: placed on a node (with the id of its subscription in that
/// node's ``RedisSubscriber``), being placed (one placement at a time, by whoever marked it), or unplaced (waiting for
/// the next rebalance). A leg that was placed once and is placed again has missed messages in between: its
/// subscription is told so with a gap.
struct ShardedSubscriptionTable<Node: Hashable & Sendable>: Sendable {
    struct Leg: Hashable, Sendable, Comparable {
        let subscription: UInt64
        let slot: HashSlot

        static func < (lhs: Leg, rhs: Leg) -> Bool {
            (lhs.subscription, lhs.slot.rawValue) < (rhs.subscription, rhs.slot.rawValue)
        }
    }

    enum Placement: Hashable, Sendable {
        case unplaced
        /// Someone is subscribing it on a node now; nobody else touches it until they report back.
        case placing
        case placed(Node, id: UInt64)
    }

    struct Entry: Hashable, Sendable {
        var channels: [String]
        var placement: Placement
        /// Whether it was placed before: placing it again follows an interruption (a gap).
        var wasPlaced = false
    }

    /// A leg to subscribe on `node`; `unsubscribe` is its old placement, to end first.
    struct Move: Hashable, Sendable {
        let leg: Leg
        let channels: [String]
        let node: Node
        let unsubscribe: Unsubscribe?
    }

    /// A leg's subscription on a node's subscriber, to end.
    struct Unsubscribe: Hashable, Sendable {
        let node: Node
        let id: UInt64
    }

    private(set) var entries: [Leg: Entry] = [:]

    /// The channels grouped by hash slot, each group without duplicates and in the caller's order.
    static func group(_ channels: [String]) -> [HashSlot: [String]] {
        var groups: [HashSlot: [String]] = [:]
        var seen = Set<String>()
        for channel in channels where seen.insert(channel).inserted {
            groups[HashSlot(key: channel), default: []].append(channel)
        }
        return groups
    }

    /// Records a new subscription; its legs are being placed by the caller.
    mutating func add(subscription: UInt64, channels: [String]) -> [Leg: [String]] {
        var legs: [Leg: [String]] = [:]
        for (slot, group) in Self.group(channels) {
            let leg = Leg(subscription: subscription, slot: slot)
            self.entries[leg] = Entry(channels: group, placement: .placing)
            legs[leg] = group
        }
        return legs
    }

    /// Forgets a subscription; returns the placements to end.
    mutating func remove(subscription: UInt64) -> [Unsubscribe] {
        var ended: [Unsubscribe] = []
        for leg in self.entries.keys.sorted() where leg.subscription == subscription {
            if case .placed(let node, let id) = self.entries.removeValue(forKey: leg)?.placement {
                ended.append(Unsubscribe(node: node, id: id))
            }
        }
        return ended
    }

    /// A placement succeeded. Returns whether the subscription should be told of a gap (the leg had been placed
    /// before), or nil when the leg is gone (its subscription ended meanwhile): the caller ends the new placement.
    mutating func placed(_ leg: Leg, on node: Node, id: UInt64) -> Bool? {
        guard var entry = self.entries[leg], entry.placement == .placing else { return nil }
        let gap = entry.wasPlaced
        entry.placement = .placed(node, id: id)
        entry.wasPlaced = true
        self.entries[leg] = entry
        return gap
    }

    /// A placement failed: the leg waits for the next rebalance.
    mutating func placementFailed(_ leg: Leg) {
        guard self.entries[leg]?.placement == .placing else { return }
        self.entries[leg]?.placement = .unplaced
    }

    /// `node`'s subscriber says the server dropped the channels of these of its subscriptions (their slot moved).
    /// Those legs become unplaced; returns their placements to end.
    mutating func moved(on node: Node, ids: [UInt64]) -> [Unsubscribe] {
        let ids = Set(ids)
        var ended: [Unsubscribe] = []
        for leg in self.entries.keys.sorted() {
            guard case .placed(let placedNode, let id) = self.entries[leg]!.placement, placedNode == node,
                ids.contains(id)
            else { continue }
            self.entries[leg]!.placement = .unplaced
            ended.append(Unsubscribe(node: node, id: id))
        }
        return ended
    }

    /// `node` no longer serves `slot` (it answered `MOVED`): its legs of that slot become unplaced; returns their
    /// placements to end.
    mutating func slotLeft(_ slot: HashSlot, node: Node) -> [Unsubscribe] {
        var ended: [Unsubscribe] = []
        for leg in self.entries.keys.sorted() where leg.slot == slot {
            guard case .placed(let placedNode, let id) = self.entries[leg]!.placement, placedNode == node else {
                continue
            }
            self.entries[leg]!.placement = .unplaced
            ended.append(Unsubscribe(node: node, id: id))
        }
        return ended
    }

    /// The slots of every leg (for looking their owners up before ``rebalance(owners:)``).
    var slots: Set<HashSlot> { Set(self.entries.keys.map(\.slot)) }

    /// Whether some leg is placed on `node` (a node's subscriber without any can be closed once the node serves no
    /// slot).
    func hasLegs(on node: Node) -> Bool {
        self.entries.values.contains { entry in
            if case .placed(let placed, _) = entry.placement { return placed == node }
            return false
        }
    }

    /// Whether some leg waits to be placed.
    var hasUnplaced: Bool { self.entries.values.contains { $0.placement == .unplaced } }

    /// The legs that are not where they belong, given each slot's owner now: unplaced legs whose slot has an owner,
    /// and placed legs on a node that no longer owns their slot. Each is marked as being placed; a slot without an
    /// owner (a failover in progress) leaves its legs alone.
    mutating func rebalance(owners: [HashSlot: Node]) -> [Move] {
        var moves: [Move] = []
        for leg in self.entries.keys.sorted() {
            let entry = self.entries[leg]!
            guard let owner = owners[leg.slot] else { continue }
            switch entry.placement {
            case .placing:
                continue
            case .unplaced:
                moves.append(Move(leg: leg, channels: entry.channels, node: owner, unsubscribe: nil))
            case .placed(let node, let id):
                guard node != owner else { continue }
                moves.append(
                    Move(leg: leg, channels: entry.channels, node: owner, unsubscribe: Unsubscribe(node: node, id: id))
                )
            }
            self.entries[leg]!.placement = .placing
        }
        return moves
    }
}
