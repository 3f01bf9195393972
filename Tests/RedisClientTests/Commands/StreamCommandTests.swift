import NIOCore
import RedisClient
import Testing

@Suite struct StreamCommandTests {
    @Test func addAndRange() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            let first = try await client.xadd(key, fields: [("kind", "order"), ("amount", 12)])
            let second = try await client.xadd(
                key,
                fields: [("kind", "refund"), ("bytes", ByteBuffer(bytes: [0, 255]))]
            )
            let third = try await client.xadd(key, fields: [("kind", "order")])
            #expect(try await client.xlen(key) == 3)

            let all = try await client.xrange(key)
            #expect(all.map(\.id) == [first, second, third])
            #expect(all[0].string("kind") == "order")
            #expect(all[0].string("amount") == "12")
            #expect(all[0].fields.count == 2)
            #expect(all[1].fields["bytes"].map { Array($0.readableBytesView) } == [0, 255])
            #expect(all[1].string("missing") == nil)
            #expect(all.allSatisfy { !$0.isDeleted })

            #expect(try await client.xrange(key, count: 2).map(\.id) == [first, second])
            #expect(try await client.xrange(key, from: "(" + first).map(\.id) == [second, third])
            #expect(try await client.xrange(key, from: second, to: second).map(\.id) == [second])
            #expect(try await client.xrange(prefix + "missing").isEmpty)
        }
    }

    @Test func explicitIDs() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            #expect(try await client.xadd(key, fields: [("n", 1)], id: "5-1") == "5-1")
            #expect(try await client.xadd(key, fields: [("n", 2)], id: "5-*") == "5-2")
            let error = try await #require(throws: RedisError.self) {
                try await client.xadd(key, fields: [("n", 3)], id: "5-1")
            }
            #expect(error.code == .server)
            #expect(try await client.xrange(key).map { $0.string("n") } == ["1", "2"])
        }
    }

    @Test func maxLengthTrimsApproximately() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            for index in 0..<600 {
                try await client.xadd(key, fields: [("i", index)], maxLength: 50)
            }
            let length = try await client.xlen(key)
            // `MAXLEN ~` trims whole nodes (100 entries by default), lazily: never below 50, far below 600.
            #expect(length >= 50)
            #expect(length <= 200)
            let last = try await client.xrange(key).last
            #expect(last?.string("i") == "599")
        }
    }

    @Test func trim() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            for index in 0..<300 { try await client.xadd(key, fields: [("i", index)]) }
            let removed = try await client.xtrim(key, maxLength: 10)
            let length = try await client.xlen(key)
            #expect(removed > 0)
            #expect(length + removed == 300)
            #expect(length >= 10)
            #expect(try await client.xrange(key).last?.string("i") == "299")
            #expect(try await client.xtrim(key, maxLength: 1_000) == 0)
        }
    }

    @Test func delete() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            let ids = [
                try await client.xadd(key, fields: [("n", 1)]),
                try await client.xadd(key, fields: [("n", 2)]),
                try await client.xadd(key, fields: [("n", 3)]),
            ]
            #expect(try await client.xdel(key, ids: [ids[1], "9999999999999-9"]) == 1)
            #expect(try await client.xdel(key, ids: []) == 0)
            #expect(try await client.xrange(key).map(\.id) == [ids[0], ids[2]])
            #expect(try await client.xlen(key) == 2)
        }
    }

    @Test func groupCreate() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            #expect(try await client.xgroupCreate(key, group: "g") == true)
            #expect(try await client.type(of: key) == "stream")
            #expect(try await client.xlen(key) == 0)
            // BUSYGROUP: already there.
            #expect(try await client.xgroupCreate(key, group: "g") == false)
            #expect(try await client.xgroupCreate(key, group: "other", startID: "0") == true)
            #expect(Set(try await client.xinfoGroups(key).map(\.name)) == ["g", "other"])

            // Other errors are not swallowed.
            try await client.set(prefix + "string", to: "v")
            let error = try await #require(throws: RedisError.self) {
                try await client.xgroupCreate(prefix + "string", group: "g")
            }
            #expect(error.serverErrorPrefix == "WRONGTYPE")
        }
    }

    @Test func readGroupWithoutBlocking() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "s"
            let ids = [
                try await client.xadd(key, fields: [("n", 1)]),
                try await client.xadd(key, fields: [("n", 2)]),
                try await client.xadd(key, fields: [("n", 3)]),
            ]
            try await client.xgroupCreate(key, group: "g", startID: "0")

            let batch = try await client.xreadgroup(group: "g", consumer: "c1", streams: [(key, ">")], count: 2)
            #expect(Array(batch.keys) == [key])
            #expect(batch[key]?.map(\.id) == [ids[0], ids[1]])
            #expect(batch[key]?.map { $0.string("n") } == ["1", "2"])

            let rest = try await client.xreadgroup(group: "g", consumer: "c2", streams: [(key, ">")])
            #expect(rest[key]?.map(\.id) == [ids[2]])

            let none = try await client.xreadgroup(group: "g", consumer: "c1", streams: [(key, ">")])
            #expect(none.values.allSatisfy { $0.isEmpty })

            // Reading history (`0`) returns this consumer's pending entries.
            let pending = try await client.xreadgroup(group: "g", consumer: "c1", streams: [(key, "0")])
            #expect(pending[key]?.map(\.id) == [ids[0], ids[1]])

            // NOACK: delivered but not pending.
            let noAck = try await client.xadd(key, fields: [("n", 4)])
            let read = try await client.xreadgroup(group: "g", consumer: "c3", streams: [(key, ">")], noAck: true)
            #expect(read[key]?.map(\.id) == [noAck])
            #expect(try await client.xpendingCount(key, group: "g") == 3)
        }
    }

    @Test func readGroupFromSeveralStreams() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let a = prefix + "a"
            let b = prefix + "b"
            try await client.xgroupCreate(a, group: "g")
            try await client.xgroupCreate(b, group: "g")
            let idA = try await client.xadd(a, fields: [("from", "a")])
            let idB = try await client.xadd(b, fields: [("from", "b")])
            let result = try await client.xreadgroup(group: "g", consumer: "c", streams: [(a, ">"), (b, ">")])
            #expect(result[a]?.map(\.id) == [idA])
            #expect(result[b]?.map(\.id) == [idB])
            #expect(result[b]?.first?.string("from") == "b")
        }
    }

    @Test func readGroupBlockingTimesOutEmpty() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "s"
            try await client.xgroupCreate(key, group: "g")
            let result = try await client.xreadgroup(
                group: "g",
                consumer: "c",
                streams: [(key, ">")],
                block: .milliseconds(200)
            )
            #expect(result.values.allSatisfy { $0.isEmpty })
            #expect(try await client.xpendingCount(key, group: "g") == 0)
        }
    }

    @Test func readGroupBlockingReturnsAnEntryAddedDuringTheWait() async throws {
        let prefix = TestRedis.prefix()
        let name = uniqueClientName("xreadgroup")
        try await TestRedis.withClient(namedConfiguration(name)) { client in
            try await TestRedis.withClient { producer in
                let key = prefix + "s"
                try await client.xgroupCreate(key, group: "g")
                let reader = Task {
                    try await client.xreadgroup(
                        group: "g",
                        consumer: "c",
                        streams: [(key, ">")],
                        count: 10,
                        block: .seconds(30)
                    )
                }
                let blocked = try await waitUntil {
                    try await clientsNamed(name, on: producer).contains {
                        $0["cmd"] == "xreadgroup" && $0["flags"] == "b"
                    }
                }
                #expect(blocked)
                let id = try await producer.xadd(key, fields: [("job", "resize")])
                let result = try await reader.value
                #expect(result[key]?.map(\.id) == [id])
                #expect(result[key]?.first?.string("job") == "resize")
                #expect(try await producer.xpendingCount(key, group: "g") == 1)
            }
        }
    }

    @Test func ackAndPending() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            try await client.xgroupCreate(key, group: "g")
            #expect(try await client.xpendingCount(key, group: "g") == 0)
            #expect(try await client.xpending(key, group: "g").isEmpty)
            let ids = [
                try await client.xadd(key, fields: [("n", 1)]),
                try await client.xadd(key, fields: [("n", 2)]),
                try await client.xadd(key, fields: [("n", 3)]),
            ]
            _ = try await client.xreadgroup(group: "g", consumer: "c1", streams: [(key, ">")], count: 2)
            _ = try await client.xreadgroup(group: "g", consumer: "c2", streams: [(key, ">")])
            #expect(try await client.xpendingCount(key, group: "g") == 3)

            let all = try await client.xpending(key, group: "g")
            #expect(all.map(\.id) == ids)
            #expect(all.map(\.consumer) == ["c1", "c1", "c2"])
            #expect(all.allSatisfy { $0.deliveries == 1 })
            #expect(all.allSatisfy { $0.idle >= .zero && $0.idle < .seconds(60) })

            let mine = try await client.xpending(key, group: "g", consumer: "c2")
            #expect(mine.map(\.id) == [ids[2]])
            #expect(try await client.xpending(key, group: "g", count: 1).map(\.id) == [ids[0]])
            #expect(try await client.xpending(key, group: "g", start: "(" + ids[0]).map(\.id) == [ids[1], ids[2]])
            #expect(try await client.xpending(key, group: "g", minIdle: .seconds(60)).isEmpty)

            // Reading the history again delivers again.
            _ = try await client.xreadgroup(group: "g", consumer: "c1", streams: [(key, "0")])
            #expect(try await client.xpending(key, group: "g", consumer: "c1").map(\.deliveries) == [2, 2])

            #expect(try await client.xack(key, group: "g", ids: [ids[0], ids[2]]) == 2)
            #expect(try await client.xack(key, group: "g", ids: [ids[0]]) == 0)
            #expect(try await client.xack(key, group: "g", ids: []) == 0)
            #expect(try await client.xpendingCount(key, group: "g") == 1)
            #expect(try await client.xpending(key, group: "g").map(\.id) == [ids[1]])
        }
    }

    @Test func autoclaimTakesOverFromADeadConsumer() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            try await client.xgroupCreate(key, group: "g")
            let ids = [
                try await client.xadd(key, fields: [("n", 1)]),
                try await client.xadd(key, fields: [("n", 2)]),
                try await client.xadd(key, fields: [("n", 3)]),
            ]
            _ = try await client.xreadgroup(group: "g", consumer: "dead", streams: [(key, ">")])

            // Not idle long enough yet.
            let early = try await client.xautoclaim(key, group: "g", consumer: "alive", minIdle: .seconds(60))
            #expect(early.entries.isEmpty)
            #expect(early.next == "0-0")

            try await Task.sleep(for: .milliseconds(100))
            let first = try await client.xautoclaim(
                key,
                group: "g",
                consumer: "alive",
                minIdle: .milliseconds(50),
                count: 2
            )
            #expect(first.entries.map(\.id) == [ids[0], ids[1]])
            #expect(first.entries.map { $0.string("n") } == ["1", "2"])
            #expect(first.deletedIDs.isEmpty)
            #expect(first.next == ids[2])

            let second = try await client.xautoclaim(
                key,
                group: "g",
                consumer: "alive",
                minIdle: .milliseconds(50),
                start: first.next
            )
            #expect(second.entries.map(\.id) == [ids[2]])
            #expect(second.next == "0-0")

            let pending = try await client.xpending(key, group: "g")
            #expect(pending.map(\.consumer) == ["alive", "alive", "alive"])
            #expect(pending.map(\.deliveries) == [2, 2, 2])
            #expect(try await client.xpending(key, group: "g", consumer: "dead").isEmpty)
        }
    }

    @Test func deletedPendingEntries() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            try await client.xgroupCreate(key, group: "g")
            let kept = try await client.xadd(key, fields: [("n", 1)])
            let deleted = try await client.xadd(key, fields: [("n", 2)])
            _ = try await client.xreadgroup(group: "g", consumer: "c", streams: [(key, ">")])
            #expect(try await client.xdel(key, ids: [deleted]) == 1)

            // The consumer's history still lists the deleted entry, without data.
            let history = try await client.xreadgroup(group: "g", consumer: "c", streams: [(key, "0")])
            let entries = try #require(history[key])
            #expect(entries.map(\.id) == [kept, deleted])
            #expect(entries.map(\.isDeleted) == [false, true])
            #expect(entries[0].string("n") == "1")
            #expect(entries[1].fields.isEmpty)

            // XAUTOCLAIM reports it as deleted and drops it from the pending list.
            try await Task.sleep(for: .milliseconds(60))
            let claimed = try await client.xautoclaim(key, group: "g", consumer: "other", minIdle: .milliseconds(1))
            #expect(claimed.entries.map(\.id) == [kept])
            #expect(claimed.deletedIDs == [deleted])
            #expect(try await client.xpending(key, group: "g").map(\.id) == [kept])
        }
    }

    @Test func groupInfo() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "s"
            let ids = [
                try await client.xadd(key, fields: [("n", 1)]),
                try await client.xadd(key, fields: [("n", 2)]),
                try await client.xadd(key, fields: [("n", 3)]),
            ]
            try await client.xgroupCreate(key, group: "workers", startID: "0")
            try await client.xgroupCreate(key, group: "late")
            _ = try await client.xreadgroup(group: "workers", consumer: "w1", streams: [(key, ">")], count: 1)
            _ = try await client.xreadgroup(group: "workers", consumer: "w2", streams: [(key, ">")], count: 1)

            let groups = Dictionary(uniqueKeysWithValues: try await client.xinfoGroups(key).map { ($0.name, $0) })
            let workers = try #require(groups["workers"])
            #expect(workers.consumers == 2)
            #expect(workers.pending == 2)
            #expect(workers.lastDeliveredID == ids[1])
            #expect(workers.lag == 1)
            let late = try #require(groups["late"])
            #expect(late.consumers == 0)
            #expect(late.pending == 0)
            #expect(late.lastDeliveredID == ids[2])
            #expect(late.lag == 0)

            let error = try await #require(throws: RedisError.self) { try await client.xinfoGroups(prefix + "missing") }
            #expect(error.code == .server)
        }
    }
}
