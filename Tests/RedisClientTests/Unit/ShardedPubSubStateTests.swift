import NIOCore
import Testing

@testable import RedisClient

/// The decisions of sharded pub/sub without servers: a `sunsubscribe` the server sends on its own, the placement of
/// each subscription's per-slot legs on the nodes that own the slots, and telling confirmations from the server's
/// own pushes.
@Suite struct ShardedPubSubStateTests {
    typealias Machine = SubscriberStateMachine<Int, String>
    typealias Table = ShardedSubscriptionTable<String>

    private func machine() -> Machine {
        Machine(backoff: ReconnectBackoff(initialDelay: .milliseconds(10), maxDelay: .seconds(1)))
    }

    /// Subscription 1 on sharded channels, active on connection 1 of generation 1.
    private func active(_ machine: inout Machine, channels: [String]) {
        _ = machine.subscribe(id: 1, targets: channels.map { .shardChannel($0) }, waiter: "w1", now: 0)
        _ = machine.connected(1)
        _ = machine.subscribeCompleted(generation: 1, purpose: .restore, error: nil, now: 0)
    }

    // MARK: SubscriberStateMachine

    @Test func aServerSideSunsubscribeReportsTheSubscriptionsOfThatChannelAsMoved() {
        var machine = self.machine()
        self.active(&machine, channels: ["a", "b"])
        #expect(machine.subscribe(id: 2, targets: [.shardChannel("a")], waiter: "w2", now: 0).count == 1)
        let actions = machine.serverUnsubscribed(generation: 1, target: .shardChannel("a"))
        guard case .moved(let targets, let ids) = actions.first, actions.count == 1 else {
            Issue.record("expected one moved action, got \(actions)")
            return
        }
        #expect(targets == [.shardChannel("a")])
        #expect(ids == [1, 2])
    }

    @Test func aSunsubscribeFromAReplacedConnectionOrForAChannelNobodyListensToChangesNothing() {
        var machine = self.machine()
        self.active(&machine, channels: ["a"])
        #expect(machine.serverUnsubscribed(generation: 0, target: .shardChannel("a")).isEmpty)
        #expect(machine.serverUnsubscribed(generation: 1, target: .shardChannel("other")).isEmpty)
        // Classic channels are never dropped by the server this way.
        #expect(machine.serverUnsubscribed(generation: 1, target: .channel("a")).isEmpty)
    }

    @Test func aNewSubscriptionToADroppedChannelAsksTheServerAgain() {
        var machine = self.machine()
        self.active(&machine, channels: ["a"])
        _ = machine.serverUnsubscribed(generation: 1, target: .shardChannel("a"))
        // Without the drop this would ride on subscription 1 and be activated at once.
        let actions = machine.subscribe(id: 2, targets: [.shardChannel("a")], waiter: "w2", now: 0)
        guard case .subscribe(1, 1, let targets, .add(2)) = actions.first else {
            Issue.record("expected a new SSUBSCRIBE, got \(actions)")
            return
        }
        #expect(targets == [.shardChannel("a")])
    }

    @Test func aMovedSubscriptionEndsWithAnSunsubscribeAndTheRestoreAsksForShardChannels() {
        var machine = self.machine()
        self.active(&machine, channels: ["a"])
        _ = machine.serverUnsubscribed(generation: 1, target: .shardChannel("a"))
        let ended = machine.unsubscribe(id: 1)
        guard case .unsubscribe(1, let targets) = ended.first else {
            Issue.record("expected an unsubscribe, got \(ended)")
            return
        }
        #expect(targets == [.shardChannel("a")])
        // A reconnect restores sharded channels like the others.
        _ = machine.subscribe(id: 3, targets: [.shardChannel("c"), .channel("d")], waiter: "w3", now: 0)
        _ = machine.connectionClosed(generation: 1)
        let restore = machine.connected(2)
        guard case .subscribe(2, 2, let restored, .restore) = restore.last else {
            Issue.record("expected a restore, got \(restore)")
            return
        }
        #expect(Set(restored) == [.shardChannel("c"), .channel("d")])
    }

    // MARK: ShardedSubscriptionTable

    @Test func channelsAreGroupedBySlotWithoutDuplicates() {
        let groups = Table.group(["{x}a", "{x}b", "{x}a", "y"])
        #expect(groups[HashSlot(key: "x")] == ["{x}a", "{x}b"])
        #expect(groups[HashSlot(key: "y")] == ["y"])
        #expect(groups.count == 2)
    }

    @Test func legsArePlacedOnTheirOwnersAndEndedWithTheirSubscription() {
        var table = Table()
        let legs = table.add(subscription: 1, channels: ["{x}a", "y"])
        #expect(legs.count == 2)
        // Being placed by the caller: a rebalance leaves them alone.
        let owners = [HashSlot(key: "x"): "n1", HashSlot(key: "y"): "n2"]
        #expect(table.rebalance(owners: owners).isEmpty)
        let x = Table.Leg(subscription: 1, slot: HashSlot(key: "x"))
        let y = Table.Leg(subscription: 1, slot: HashSlot(key: "y"))
        #expect(table.placed(x, on: "n1", id: 10) == false)  // first placement: no gap
        #expect(table.placed(y, on: "n2", id: 20) == false)
        #expect(table.rebalance(owners: owners).isEmpty)
        #expect(
            Set(table.remove(subscription: 1))
                == [Table.Unsubscribe(node: "n1", id: 10), Table.Unsubscribe(node: "n2", id: 20)]
        )
        #expect(table.entries.isEmpty)
    }

    @Test func aPlacementThatFinishesAfterItsSubscriptionEndedIsUndone() {
        var table = Table()
        _ = table.add(subscription: 1, channels: ["a"])
        _ = table.remove(subscription: 1)
        #expect(table.placed(Table.Leg(subscription: 1, slot: HashSlot(key: "a")), on: "n1", id: 5) == nil)
    }

    @Test func aLegTheServerDroppedIsPlacedOnTheNewOwnerAndReportsAGap() {
        var table = Table()
        _ = table.add(subscription: 1, channels: ["a", "b"])
        let a = Table.Leg(subscription: 1, slot: HashSlot(key: "a"))
        let b = Table.Leg(subscription: 1, slot: HashSlot(key: "b"))
        _ = table.placed(a, on: "n1", id: 10)
        _ = table.placed(b, on: "n1", id: 11)
        // n1 dropped channel a (its slot moved): only that leg leaves.
        #expect(table.moved(on: "n1", ids: [10]) == [Table.Unsubscribe(node: "n1", id: 10)])
        #expect(table.hasUnplaced)
        // The map does not know the new owner yet: nothing moves.
        #expect(table.rebalance(owners: [HashSlot(key: "b"): "n1"]).isEmpty)
        let moves = table.rebalance(owners: [HashSlot(key: "a"): "n2", HashSlot(key: "b"): "n1"])
        #expect(moves == [Table.Move(leg: a, channels: ["a"], node: "n2", unsubscribe: nil)])
        #expect(table.placed(a, on: "n2", id: 30) == true)  // placed again: the subscription is told of the gap
        #expect(!table.hasUnplaced)
    }

    @Test func aFailoverMovesEveryLegOffTheDeadPrimaryOnceTheMapNamesTheReplica() {
        var table = Table()
        _ = table.add(subscription: 1, channels: ["a"])
        _ = table.add(subscription: 2, channels: ["a", "b"])
        let a1 = Table.Leg(subscription: 1, slot: HashSlot(key: "a"))
        let a2 = Table.Leg(subscription: 2, slot: HashSlot(key: "a"))
        let b2 = Table.Leg(subscription: 2, slot: HashSlot(key: "b"))
        _ = table.placed(a1, on: "dead", id: 1)
        _ = table.placed(a2, on: "dead", id: 2)
        _ = table.placed(b2, on: "alive", id: 3)
        // During the failover the slot has no owner (the map leaves out failed nodes): nothing moves.
        #expect(table.rebalance(owners: [HashSlot(key: "b"): "alive"]).isEmpty)
        let moves = table.rebalance(owners: [HashSlot(key: "a"): "replica", HashSlot(key: "b"): "alive"])
        #expect(
            moves == [
                Table.Move(
                    leg: a1,
                    channels: ["a"],
                    node: "replica",
                    unsubscribe: Table.Unsubscribe(node: "dead", id: 1)
                ),
                Table.Move(
                    leg: a2,
                    channels: ["a"],
                    node: "replica",
                    unsubscribe: Table.Unsubscribe(node: "dead", id: 2)
                ),
            ]
        )
        // A move in progress is not started twice.
        #expect(table.rebalance(owners: [HashSlot(key: "a"): "replica", HashSlot(key: "b"): "alive"]).isEmpty)
        table.placementFailed(a1)
        #expect(table.placed(a2, on: "replica", id: 4) == true)
        // The failed one is retried by the next rebalance.
        #expect(
            table.rebalance(owners: [HashSlot(key: "a"): "replica", HashSlot(key: "b"): "alive"])
                == [Table.Move(leg: a1, channels: ["a"], node: "replica", unsubscribe: nil)]
        )
    }

    @Test func aMovedAnswerToAResubscribeUnplacesThatSlotsLegsOnThatNodeOnly() {
        var table = Table()
        _ = table.add(subscription: 1, channels: ["a", "b"])
        let a = Table.Leg(subscription: 1, slot: HashSlot(key: "a"))
        let b = Table.Leg(subscription: 1, slot: HashSlot(key: "b"))
        _ = table.placed(a, on: "n1", id: 1)
        _ = table.placed(b, on: "n1", id: 2)
        #expect(table.slotLeft(HashSlot(key: "a"), node: "n2").isEmpty)
        #expect(table.slotLeft(HashSlot(key: "a"), node: "n1") == [Table.Unsubscribe(node: "n1", id: 1)])
        #expect(table.entries[b]?.placement == .placed("n1", id: 2))
        #expect(table.hasLegs(on: "n1"))
        _ = table.slotLeft(HashSlot(key: "b"), node: "n1")
        #expect(!table.hasLegs(on: "n1"), "a node without legs may have its subscriber closed")
    }

    // MARK: RequestQueue

    private func push(_ kind: String, _ channel: String, _ count: Int64) -> RESPValue {
        .push([.blobString(ByteBuffer(string: kind)), .blobString(ByteBuffer(string: channel)), .number(count)])
    }

    @Test func aServerSunsubscribeDuringAnSsubscribeIsAPushNotAConfirmation() {
        var queue = RequestQueue<Int>()
        _ = queue.enqueue(
            id: 1,
            commands: [RedisCommand("SSUBSCRIBE", "a"), RedisCommand("SSUBSCRIBE", "b")],
            waiter: 1,
            deadline: .max,
            kind: .pushConfirmations,
            expectedReplies: 2,
            collectsAll: true
        )
        guard case .consumed = queue.receive(self.push("ssubscribe", "a", 1)) else {
            Issue.record("the first confirmation")
            return
        }
        guard case .push(let elements) = queue.receive(self.push("sunsubscribe", "old", 0)) else {
            Issue.record("the server's own sunsubscribe must reach the push handler")
            return
        }
        #expect(elements[1].stringValue == "old")
        guard case .completed(.values(1, let values)) = queue.receive(self.push("ssubscribe", "b", 1)) else {
            Issue.record("the second confirmation completes the request")
            return
        }
        #expect(values.count == 2)
    }
}
