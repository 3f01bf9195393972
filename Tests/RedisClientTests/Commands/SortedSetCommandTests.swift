import RedisClient
import Testing

@Suite struct SortedSetCommandTests {
    /// Members only, for comparing ranges.
    private func members(_ entries: [(member: String, score: Double)]) -> [String] { entries.map(\.member) }
    private func scores(_ entries: [(member: String, score: Double)]) -> [Double] { entries.map(\.score) }

    @Test func addConditions() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            let key = prefix + "z"
            #expect(try await client.zadd(key, [("a", 1), ("b", 2), ("c", 3)]) == 3)
            // Always: updates count as 0, new members as 1.
            #expect(try await client.zadd(key, [("a", 10), ("d", 4)]) == 1)
            #expect(try await client.zscore(key, member: "a") == 10)

            // NX: new members only; existing scores stay.
            #expect(try await client.zadd(key, [("a", 100), ("e", 5)], condition: .ifNotExists) == 1)
            #expect(try await client.zscore(key, member: "a") == 10)
            #expect(try await client.zscore(key, member: "e") == 5)

            // XX: existing members only; nothing is added.
            #expect(try await client.zadd(key, [("b", 20), ("f", 6)], condition: .ifExists) == 0)
            #expect(try await client.zscore(key, member: "b") == 20)
            #expect(try await client.zscore(key, member: "f") == nil)

            #expect(try await client.zadd(key, []) == 0)
            #expect(try await client.zcard(key) == 5)
        }
    }

    @Test func scoresIncrementsAndSpecialValues() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "z"
            #expect(try await client.zscore(key, member: "a") == nil)
            #expect(try await client.zincr(key, member: "a", by: 2.5) == 2.5)
            #expect(try await client.zincr(key, member: "a") == 3.5)
            #expect(try await client.zincr(key, member: "a", by: -4) == -0.5)
            #expect(try await client.zscore(key, member: "a") == -0.5)
            #expect(try await client.zscore(key, member: "absent") == nil)

            try await client.zadd(key, [("low", -.infinity), ("high", .infinity), ("tiny", 0.1), ("big", 1e20)])
            #expect(try await client.zscore(key, member: "low") == -.infinity)
            #expect(try await client.zscore(key, member: "high") == .infinity)
            #expect(try await client.zscore(key, member: "tiny") == 0.1)
            #expect(try await client.zscore(key, member: "big") == 1e20)
            #expect(members(try await client.zrange(key)) == ["low", "a", "tiny", "big", "high"])
        }
    }

    @Test func rangeByRank() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "z"
            try await client.zadd(key, [("c", 3), ("a", 1), ("b", 2), ("d", 4), ("tie-b", 2), ("tie-a", 2)])
            let all = try await client.zrange(key)
            // Ties are ordered by member.
            #expect(members(all) == ["a", "b", "tie-a", "tie-b", "c", "d"])
            #expect(scores(all) == [1, 2, 2, 2, 3, 4])
            #expect(members(try await client.zrange(key, 0, 1)) == ["a", "b"])
            #expect(members(try await client.zrange(key, -2, -1)) == ["c", "d"])
            let reversed = try await client.zrange(key, reverse: true)
            #expect(members(reversed) == ["d", "c", "tie-b", "tie-a", "b", "a"])
            #expect(scores(reversed) == [4, 3, 2, 2, 2, 1])
            #expect(members(try await client.zrange(key, 0, 1, reverse: true)) == ["d", "c"])
            #expect(try await client.zrange(prefix + "missing").isEmpty)
        }
    }

    @Test func rangeByScore() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "z"
            try await client.zadd(key, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)])
            #expect(
                members(try await client.zrangeByScore(key, min: "-inf", max: "+inf")) == ["a", "b", "c", "d", "e"]
            )
            #expect(members(try await client.zrangeByScore(key, min: "2", max: "4")) == ["b", "c", "d"])
            #expect(members(try await client.zrangeByScore(key, min: "(2", max: "4")) == ["c", "d"])
            #expect(members(try await client.zrangeByScore(key, min: "(1", max: "(4")) == ["b", "c"])
            #expect(members(try await client.zrangeByScore(key, min: "(5", max: "+inf")).isEmpty)
            let page = try await client.zrangeByScore(key, min: "-inf", max: "+inf", limit: (offset: 1, count: 2))
            #expect(members(page) == ["b", "c"])
            #expect(scores(page) == [2, 3])
            #expect(
                members(try await client.zrangeByScore(key, min: "(1", max: "5", limit: (offset: 2, count: 10)))
                    == ["d", "e"]
            )
        }
    }

    @Test func removeByScoreAndMember() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "z"
            try await client.zadd(key, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)])
            #expect(try await client.zremRangeByScore(key, min: "(1", max: "3") == 2)
            #expect(members(try await client.zrange(key)) == ["a", "d", "e"])
            #expect(try await client.zremRangeByScore(key, min: "10", max: "+inf") == 0)
            #expect(try await client.zremRangeByScore(key, min: "-inf", max: "(5") == 2)
            #expect(members(try await client.zrange(key)) == ["e"])
            #expect(try await client.zrem(key, members: ["e", "missing"]) == 1)
            #expect(try await client.zrem(key, members: []) == 0)
            #expect(try await client.zcard(key) == 0)
            #expect(try await client.exists(key) == 0)
        }
    }

    @Test func popMin() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let key = prefix + "z"
            try await client.zadd(key, [("c", 3), ("a", 1), ("b", 2)])
            let one = try await client.zpopmin(key)
            #expect(members(one) == ["a"])
            #expect(scores(one) == [1])
            let two = try await client.zpopmin(key, count: 5)
            #expect(members(two) == ["b", "c"])
            #expect(scores(two) == [2, 3])
            #expect(try await client.zcard(key) == 0)
            #expect(try await client.zpopmin(key).isEmpty)
            #expect(try await client.zpopmin(key, count: 3).isEmpty)
        }
    }
}
