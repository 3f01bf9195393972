import RedisClient
import Testing

@Suite struct PipelineTransactionTests {
    @Test func pipelineReportsEachResult() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let results = try await client.pipeline([
                RedisCommand("SET", key: prefix + "text", "x"),
                RedisCommand("INCR", key: prefix + "text"),
                RedisCommand("GET", key: prefix + "text"),
                RedisCommand("INCRBY", key: prefix + "n", 5),
                RedisCommand("GET", key: prefix + "missing"),
            ])
            #expect(results.count == 5)
            #expect(try results[0].get().decode(as: String.self) == "OK")
            guard case .failure(let error) = results[1] else {
                Issue.record("INCR on a non-integer should fail, got \(results[1])")
                return
            }
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "ERR")
            #expect(try results[2].get().decode(as: String.self) == "x")
            #expect(try results[3].get().decode(as: Int.self) == 5)
            #expect(try results[4].get().isNull)
            #expect(try await client.get(prefix + "n") == "5")
            #expect(try await client.pipeline([]).isEmpty)
        }
    }

    @Test func pipelineKeepsOrderUnderLoad() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let commands = (0..<500).map { _ in RedisCommand("INCR", key: prefix + "n") }
            let results = try await client.pipeline(commands)
            #expect(try results.map { try $0.get().decode(as: Int.self) } == Array(1...500))
        }
    }

    @Test func transactionReturnsResults() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let results = try await client.transaction([
                RedisCommand("SET", key: prefix + "a", "1"),
                RedisCommand("INCR", key: prefix + "a"),
                RedisCommand("GET", key: prefix + "a"),
                RedisCommand("RPUSH", key: prefix + "l", "x", "y"),
            ])
            #expect(results.count == 4)
            #expect(try results[0].get().decode(as: String.self) == "OK")
            #expect(try results[1].get().decode(as: Int.self) == 2)
            #expect(try results[2].get().decode(as: String.self) == "2")
            #expect(try results[3].get().decode(as: Int.self) == 2)
            #expect(try await client.transaction([]).isEmpty)
        }
    }

    @Test func transactionRuntimeErrorFailsOnlyItsSlot() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await client.set(prefix + "string", to: "v")
            let results = try await client.transaction([
                RedisCommand("SET", key: prefix + "a", "1"),
                RedisCommand("LPUSH", key: prefix + "string", "x"),
                RedisCommand("SET", key: prefix + "b", "2"),
            ])
            #expect(results.count == 3)
            #expect(try results[0].get().decode(as: String.self) == "OK")
            guard case .failure(let error) = results[1] else {
                Issue.record("LPUSH on a string should fail, got \(results[1])")
                return
            }
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "WRONGTYPE")
            #expect(try results[2].get().decode(as: String.self) == "OK")
            #expect(try await client.mget([prefix + "a", prefix + "b", prefix + "string"]) == ["1", "2", "v"])
        }
    }

    @Test func transactionQueueingErrorAbortsEverything() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let unknown = try await #require(throws: RedisError.self) {
                try await client.transaction([
                    RedisCommand("SET", key: prefix + "a", "1"),
                    RedisCommand("NOSUCHCOMMAND", prefix + "a"),
                    RedisCommand("SET", key: prefix + "b", "2"),
                ])
            }
            #expect(unknown.code == .transactionAborted)
            #expect(unknown.message.lowercased().contains("unknown command"))
            #expect(try await client.exists(prefix + "a", prefix + "b") == 0)

            // Wrong arity is also rejected while queueing.
            let arity = try await #require(throws: RedisError.self) {
                try await client.transaction([RedisCommand("SET", key: prefix + "a", "1"), RedisCommand("GET")])
            }
            #expect(arity.code == .transactionAborted)
            #expect(try await client.exists(prefix + "a") == 0)

            // The shared connection is not left inside MULTI.
            try await client.set(prefix + "after", to: "ok")
            #expect(try await client.get(prefix + "after") == "ok")
            let results = try await client.transaction([RedisCommand("INCR", key: prefix + "n")])
            #expect(try results[0].get().decode(as: Int.self) == 1)
        }
    }

    @Test func watchedKeyChangedAbortsTheTransaction() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { other in
                let key = prefix + "balance"
                try await client.set(key, to: "100")
                try await client.withConnection(routingKey: key) { connection in
                    _ = try await connection.send(RedisCommand("WATCH", key: key))
                    #expect(try await connection.get(key) == "100")
                    try await other.set(key, to: "50")
                    let error = try await #require(throws: RedisError.self) {
                        try await connection.transaction([RedisCommand("SET", key: key, "90")])
                    }
                    #expect(error.code == .transactionAborted)
                    // EXEC unwatches: the connection can run a transaction again.
                    let retry = try await connection.transaction([RedisCommand("INCRBY", key: key, -10)])
                    #expect(try retry[0].get().decode(as: Int.self) == 40)
                }
                #expect(try await client.get(key) == "40")
            }
        }
    }

    @Test func watchedKeyUnchangedCommits() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { other in
                let key = prefix + "balance"
                try await client.set(key, to: "100")
                let results = try await client.withConnection(routingKey: key) { connection in
                    _ = try await connection.send(RedisCommand("WATCH", key: key))
                    let balance = try #require(try await connection.get(key, as: Int.self))
                    // Another client changing an unrelated key does not matter.
                    try await other.set(prefix + "unrelated", to: "x")
                    return try await connection.transaction([
                        RedisCommand("SET", key: key, balance - 30),
                        RedisCommand("GET", key: key),
                    ])
                }
                #expect(try results[0].get().decode(as: String.self) == "OK")
                #expect(try results[1].get().decode(as: String.self) == "70")
                #expect(try await client.get(key) == "70")
            }
        }
    }
}
