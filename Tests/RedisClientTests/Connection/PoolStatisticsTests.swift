import RedisClient
import Testing

/// `poolStatistics()`: the counts the pool gauges are set from, checked against what the test does.
@Suite struct PoolStatisticsTests {
    @Test func theCountsFollowSharedUseDedicatedLeasesAndUnansweredCalls() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            #expect(client.poolStatistics() == RedisPoolStatistics(), "nothing is opened before the first command")
            _ = try await client.send(RedisCommand("INCR", key: prefix + "n"))
            var statistics = client.poolStatistics()
            #expect(statistics.sharedConnections >= 1)
            #expect(statistics.inFlightCommands == 0)
            #expect(statistics.dedicatedConnections == 0)

            // A leased connection is dedicated while held, idle once given back.
            try await client.withConnection(routingKey: prefix + "n") { connection in
                _ = try await connection.send(RedisCommand("PING"))
                let held = client.poolStatistics()
                #expect(held.dedicatedConnections == 1)
                #expect(held.idleDedicatedConnections == 0)
            }
            statistics = client.poolStatistics()
            #expect(statistics.dedicatedConnections == 1)
            #expect(statistics.idleDedicatedConnections == 1)

            // A call Redis has not answered is in flight until it is.
            try await TestRedis.withClient { pusher in
                let waiter = Task { try await client.send(RedisCommand("BLPOP", key: prefix + "list", "30")) }
                #expect(try await waitUntil { client.poolStatistics().inFlightCommands == 1 })
                try await pusher.rpush(prefix + "list", ["x"])
                _ = try await waiter.value
                #expect(client.poolStatistics().inFlightCommands == 0)
                _ = try await pusher.send(RedisCommand("DEL", key: prefix + "n"))
            }
        }
    }
}
