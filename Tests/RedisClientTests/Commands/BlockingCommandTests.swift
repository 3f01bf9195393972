import RedisClient
import Synchronization
import Testing

@Suite struct BlockingCommandTests {
    @Test func blpopReturnsAValuePushedWhileItWaits() async throws {
        let prefix = TestRedis.prefix()
        let name = uniqueClientName("blpop-wait")
        try await TestRedis.withClient(namedConfiguration(name)) { client in
            try await TestRedis.withClient { pusher in
                let finished = Atomic<Bool>(false)
                let waiter = Task {
                    defer { finished.store(true, ordering: .sequentiallyConsistent) }
                    return try await client.blpop([prefix + "empty", prefix + "list"], timeout: .seconds(30))
                }
                // Wait until the server reports the connection blocked in BLPOP, then push from another client.
                let blocked = try await waitUntil {
                    try await clientsNamed(name, on: pusher).contains { $0["cmd"] == "blpop" && $0["flags"] == "b" }
                }
                #expect(blocked)
                #expect(finished.load(ordering: .sequentiallyConsistent) == false)
                try await pusher.rpush(prefix + "list", ["hello"])
                let popped = try await waiter.value
                #expect(popped?.key == prefix + "list")
                #expect(popped?.value == "hello")
                #expect(try await pusher.llen(prefix + "list") == 0)
            }
        }
    }

    @Test func blpopTakesAnAvailableValueFromTheFirstNonEmptyList() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.rpush(prefix + "second", ["s1", "s2"])
            try await client.rpush(prefix + "third", ["t1"])
            let popped = try await client.blpop(
                [prefix + "first", prefix + "second", prefix + "third"],
                timeout: .seconds(1)
            )
            #expect(popped?.key == prefix + "second")
            #expect(popped?.value == "s1")
            #expect(try await client.lrange(prefix + "second") == ["s2"])
            #expect(try await client.lrange(prefix + "third") == ["t1"])
        }
    }

    @Test func blpopReturnsNilAfterItsTimeout() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            #expect(try await client.blpop([prefix + "empty"], timeout: .milliseconds(200)) == nil)
            // Sub-second and sub-millisecond timeouts are sent as fractions of a second, never as 0 (forever).
            #expect(try await client.blpop([prefix + "empty"], timeout: .microseconds(300)) == nil)
            #expect(try await client.exists(prefix + "empty") == 0)
        }
    }

    /// While one task of a client is blocked in BLPOP, 100 GETs of another task of the same client complete; only
    /// then is the BLPOP released (by a push), and it returns that value. Ordering is checked with timestamps and the
    /// server's view (`CLIENT LIST`), never with durations: a BLPOP that ran on the shared connection would hold the
    /// GETs back until its own timeout, return nil, and finish before them.
    @Test func blpopDoesNotStallOtherCommandsOfTheSameClient() async throws {
        let prefix = TestRedis.prefix()
        let name = uniqueClientName("blpop-stall")
        try await TestRedis.withClient(namedConfiguration(name)) { client in
            try await TestRedis.withClient { observer in
                func blpopIsBlocked() async throws -> Bool {
                    try await clientsNamed(name, on: observer, nodeOf: prefix + "list").contains {
                        $0["cmd"] == "blpop" && $0["flags"] == "b"
                    }
                }
                try await client.set(prefix + "k", to: "v")
                let finished = Atomic<Bool>(false)
                // A long timeout: the test releases the BLPOP itself, so a slow machine cannot make it time out first.
                let waiter = Task {
                    let popped = try await client.blpop([prefix + "list"], timeout: .seconds(30))
                    finished.store(true, ordering: .sequentiallyConsistent)
                    return (popped?.value, ContinuousClock.now)
                }
                // The BLPOP is on the server before the GETs are sent.
                #expect(try await waitUntil { try await blpopIsBlocked() })

                var values: [String?] = []
                for _ in 0..<100 {
                    values.append(try await client.get(prefix + "k"))
                }
                let getsDone = ContinuousClock.now
                #expect(values.count == 100)
                #expect(values.allSatisfy { $0 == "v" })
                // The BLPOP is still waiting after all the GETs.
                #expect(finished.load(ordering: .sequentiallyConsistent) == false)
                #expect(try await blpopIsBlocked())

                try await observer.rpush(prefix + "list", ["released"])
                let (popped, blpopDone) = try await waiter.value
                #expect(popped == "released")
                #expect(getsDone < blpopDone)
            }
        }
    }

    @Test func cancellingABlockedBLPOPClosesItsConnection() async throws {
        try await withPrivateServer { server, client in
            let key = "list"
            func blockedClients() async throws -> Int? {
                try await client.info("clients")["clients"]?["blocked_clients"].flatMap { Int($0) }
            }
            #expect(try await blockedClients() == 0)

            // Long enough that it is still blocked when cancelled, even on a slow machine; cancelling ends it.
            let waiter = Task { try await client.blpop([key], timeout: .seconds(30)) }
            #expect(try await waitUntil { try await blockedClients() == 1 })
            waiter.cancel()
            let result = await waiter.result
            switch result {
            case .success(let popped):
                Issue.record("BLPOP returned \(String(describing: popped)) instead of throwing")
            case .failure(let error):
                #expect(error is CancellationError || (error as? RedisError)?.code == .connectionClosed)
            }

            // The server must stop blocking for the cancelled caller: its connection is closed, not left waiting.
            #expect(try await waitUntil { try await blockedClients() == 0 })
            try await client.rpush(key, ["after"])
            #expect(try await client.lrange(key) == ["after"])

            // The client keeps working, blocking commands included.
            try await client.ping()
            try await client.set("k", to: "v")
            #expect(try await client.get("k") == "v")
            let popped = try await client.blpop([key], timeout: .seconds(1))
            #expect(popped?.value == "after")
            #expect(try await client.llen(key) == 0)
        }
    }

    @Test func manyConcurrentBLPOPsEachGetOneValue() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "jobs"
            let values = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await client.blpop([key], timeout: .seconds(30))?.value }
                }
                let length = try await TestRedis.withClient { pusher in
                    try await pusher.rpush(key, (0..<8).map { "job-\($0)" })
                }
                #expect((0...8).contains(length))
                var values: [String?] = []
                for try await value in group { values.append(value) }
                return values
            }
            #expect(Set(values.compactMap { $0 }) == Set((0..<8).map { "job-\($0)" }))
            #expect(try await client.llen(key) == 0)
        }
    }
}
