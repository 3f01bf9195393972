import Testing

@testable import RedisClient

/// The subscriber's decisions without sockets: one connect at a time, stale news ignored, refusals reported.
@Suite struct SubscriberStateMachineTests {
    typealias Machine = SubscriberStateMachine<Int, String>

    private func machine() -> Machine {
        Machine(backoff: ReconnectBackoff(initialDelay: .milliseconds(10), maxDelay: .seconds(1)))
    }

    private func describe(_ actions: [Machine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .connect: "connect"
            case .subscribe(let connection, let generation, let targets, let purpose):
                "subscribe c\(connection) g\(generation) \(targets.count) \(purpose == .restore ? "restore" : "add")"
            case .unsubscribe(let connection, let targets): "unsubscribe c\(connection) \(targets.count)"
            case .monitor(let connection, let generation): "monitor c\(connection) g\(generation)"
            case .activate(let waiter): "activate \(waiter)"
            case .fail(let waiter, let error): "fail \(waiter) \(error.code)"
            case .gap(let ids, let reason): "gap \(ids) \(reason)"
            case .close(let connection): "close c\(connection)"
            case .retry: "retry"
            case .finishAll: "finishAll"
            case .moved(let targets, let ids): "moved \(targets.count) \(ids)"
            }
        }
    }

    /// Subscribes `id` and brings the machine to an active connection `connection` of generation 1.
    private func active(_ machine: inout Machine, connection: Int = 1) {
        #expect(self.describe(machine.subscribe(id: 1, targets: [.channel("a")], waiter: "w1", now: 0)) == ["connect"])
        #expect(
            self.describe(machine.connected(connection)) == [
                "monitor c\(connection) g1", "subscribe c\(connection) g1 1 restore",
            ]
        )
        #expect(
            self.describe(machine.subscribeCompleted(generation: 1, purpose: .restore, error: nil, now: 0))
                == ["activate w1"]
        )
    }

    @Test func theFirstSubscriptionConnectsOnceAndTheOthersRideOnTheRestore() {
        var machine = self.machine()
        #expect(self.describe(machine.subscribe(id: 1, targets: [.channel("a")], waiter: "w1", now: 0)) == ["connect"])
        #expect(machine.subscribe(id: 2, targets: [.channel("a"), .pattern("p*")], waiter: "w2", now: 0).isEmpty)
        let restore = self.describe(machine.connected(7))
        #expect(restore == ["monitor c7 g1", "subscribe c7 g1 2 restore"])
        let activated = Set(
            self.describe(machine.subscribeCompleted(generation: 1, purpose: .restore, error: nil, now: 0))
        )
        #expect(activated == ["activate w1", "activate w2"])
        // A third on an existing channel is active at once; one on a new channel asks the server first.
        #expect(
            self.describe(machine.subscribe(id: 3, targets: [.channel("a")], waiter: "w3", now: 0)) == ["activate w3"]
        )
        #expect(
            self.describe(machine.subscribe(id: 4, targets: [.channel("b")], waiter: "w4", now: 0))
                == ["subscribe c7 g1 1 add"]
        )
        #expect(
            self.describe(machine.subscribeCompleted(generation: 1, purpose: .add(4), error: nil, now: 0))
                == ["activate w4"]
        )
    }

    /// Defect: a drop while resubscribing used to start a second reconnect loop.
    @Test func aDropWhileResubscribingStartsExactlyOneReconnect() {
        var machine = self.machine()
        self.active(&machine)
        #expect(self.describe(machine.connectionClosed(generation: 1)) == ["connect"])
        #expect(machine.connected(2).count == 2)  // generation 2, restoring
        // The new connection dies before its restore is confirmed: its close and the failed restore both arrive.
        #expect(self.describe(machine.connectionClosed(generation: 2)) == ["connect"])
        let closedError = RedisError(.connectionClosed, "closed")
        #expect(machine.subscribeCompleted(generation: 2, purpose: .restore, error: closedError, now: 0).isEmpty)
        #expect(machine.connectionClosed(generation: 2).isEmpty, "news about a replaced connection is ignored")
        #expect(machine.connectionClosed(generation: 1).isEmpty)
        #expect(
            self.describe(machine.connected(3)) == ["monitor c3 g3", "subscribe c3 g3 1 restore"]
        )
        #expect(
            self.describe(machine.subscribeCompleted(generation: 3, purpose: .restore, error: nil, now: 0))
                == ["gap [1] reconnected"]
        )
    }

    /// Defect: a resubscribe the server refused on a live connection was silent.
    @Test func aRefusedResubscribeIsReportedOnceTheConnectionDroppedAndRetriedUntilItWorks() {
        var machine = self.machine()
        self.active(&machine)
        #expect(self.describe(machine.connectionClosed(generation: 1)) == ["connect"])
        _ = machine.connected(2)
        let refused = RedisError(.server, "NOPERM no permissions to access a channel")
        let first = self.describe(machine.subscribeCompleted(generation: 2, purpose: .restore, error: refused, now: 0))
        #expect(
            first == ["gap [1] subscribeFailed(\"NOPERM no permissions to access a channel\")", "close c2", "retry"]
        )
        #expect(machine.connectionClosed(generation: 2).isEmpty, "the close we asked for starts nothing")
        #expect(self.describe(machine.retryTimerFired()) == ["connect"])
        _ = machine.connected(3)
        let second = self.describe(machine.subscribeCompleted(generation: 3, purpose: .restore, error: refused, now: 0))
        #expect(second == ["close c3", "retry"], "reported once per run of failures")
        #expect(self.describe(machine.retryTimerFired()) == ["connect"])
        _ = machine.connected(4)
        #expect(
            self.describe(machine.subscribeCompleted(generation: 4, purpose: .restore, error: nil, now: 0))
                == ["gap [1] reconnected"]
        )
    }

    @Test func aFailedFirstConnectFailsTheCallersAndAFailedReconnectRetries() {
        var machine = self.machine()
        #expect(self.describe(machine.subscribe(id: 1, targets: [.channel("a")], waiter: "w1", now: 0)) == ["connect"])
        let down = RedisError(.connectionUnavailable, "refused")
        #expect(self.describe(machine.connectFailed(down, now: 0)) == ["fail w1 connectionUnavailable"])
        #expect(machine.registrations.isEmpty)
        // While the backoff runs, a new subscription fails at once instead of waiting out an outage.
        self.active(&machine)
        #expect(self.describe(machine.connectionClosed(generation: 1)) == ["connect"])
        #expect(self.describe(machine.connectFailed(down, now: 1)) == ["retry"])
        #expect(
            self.describe(machine.subscribe(id: 2, targets: [.channel("b")], waiter: "w2", now: 2))
                == ["fail w2 connectionUnavailable"]
        )
        #expect(self.describe(machine.retryTimerFired()) == ["connect"])
        #expect(machine.retryTimerFired().isEmpty, "one attempt at a time")
    }

    /// A subscription to a target whose SUBSCRIBE (asked for by another subscription) is still in flight is
    /// active only once that is confirmed, and fails with it when the server refuses.
    @Test func aSubscriptionWaitsForTheSubscribeAnotherOneIsStillWaitingFor() {
        var machine = self.machine()
        self.active(&machine)
        #expect(
            self.describe(machine.subscribe(id: 2, targets: [.channel("x")], waiter: "w2", now: 0))
                == ["subscribe c1 g1 1 add"]
        )
        #expect(machine.subscribe(id: 3, targets: [.channel("x")], waiter: "w3", now: 0).isEmpty, "not yet confirmed")
        let refused = RedisError(.server, "NOPERM no permissions to access a channel")
        let actions = self.describe(machine.subscribeCompleted(generation: 1, purpose: .add(2), error: refused, now: 0))
        #expect(Set(actions) == ["fail w2 server", "fail w3 server", "unsubscribe c1 1"])
        #expect(machine.subscriptions(of: .channel("x")) == nil)

        _ = machine.subscribe(id: 4, targets: [.channel("y")], waiter: "w4", now: 0)
        _ = machine.subscribe(id: 5, targets: [.channel("y"), .channel("a")], waiter: "w5", now: 0)
        let confirmed = self.describe(machine.subscribeCompleted(generation: 1, purpose: .add(4), error: nil, now: 0))
        #expect(Set(confirmed) == ["activate w4", "activate w5"])
    }

    @Test func theLastListenerOfATargetUnsubscribesIt() {
        var machine = self.machine()
        self.active(&machine)
        #expect(
            self.describe(machine.subscribe(id: 2, targets: [.channel("a")], waiter: "w2", now: 0)) == ["activate w2"]
        )
        #expect(machine.unsubscribe(id: 1).isEmpty, "subscription 2 still listens")
        #expect(self.describe(machine.unsubscribe(id: 2)) == ["unsubscribe c1 1"])
        #expect(machine.subscriptions(of: .channel("a")) == nil)
        // With nobody left, a drop does not reconnect.
        #expect(machine.connectionClosed(generation: 1).isEmpty)
        #expect(self.describe(machine.subscribe(id: 3, targets: [.channel("a")], waiter: "w3", now: 0)) == ["connect"])
    }

    @Test func shutdownFailsWaitersClosesAndRefusesNewSubscriptions() {
        var machine = self.machine()
        self.active(&machine)
        _ = machine.subscribe(id: 2, targets: [.channel("b")], waiter: "w2", now: 0)
        #expect(self.describe(machine.shutdown()) == ["fail w2 shutdown", "close c1", "finishAll"])
        #expect(
            self.describe(machine.subscribe(id: 3, targets: [.channel("a")], waiter: "w3", now: 0)) == [
                "fail w3 shutdown"
            ]
        )
        #expect(self.describe(machine.connected(9)) == ["close c9"])
    }
}
