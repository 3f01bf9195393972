import RedisClient
import Testing

@Suite struct PipelineTransactionTests {
    @Test func pipelineReportsEachResult() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let results = try await client.pipeline([
                RedisCommand("SET", prefix + "text", "x"),
                RedisCommand("INCR", prefix + "text"),
                RedisCommand("GET", prefix + "text"),
                RedisCommand("INCRBY", prefix + "n", 5),
                RedisCommand("GET", prefix + "missing"),
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
            let commands = (0..<500).map { _ in RedisCommand("INCR", prefix + "n") }
            let results = try await client.pipeline(commands)
            #expect(try results.map { try $0.get().decode(as: Int.self) } == Array(1...500))
        }
    }

    @Test func transactionReturnsResults() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let results = try await client.transaction([
                RedisCommand("SET", prefix + "a", "1"),
                RedisCommand("INCR", prefix + "a"),
                RedisCommand("GET", prefix + "a"),
                RedisCommand("RPUSH", prefix + "l", "x", "y"),
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
                RedisCommand("SET", prefix + "a", "1"),
                RedisCommand("LPUSH", prefix + "string", "x"),
                RedisCommand("SET", prefix + "b", "2"),
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
                    RedisCommand("SET", prefix + "a", "1"),
                    RedisCommand("NOSUCHCOMMAND", prefix + "a"),
                    RedisCommand("SET", prefix + "b", "2"),
                ])
            }
            #expect(unknown.code == .transactionAborted)
            #expect(unknown.message.lowercased().contains("unknown command"))
            #expect(try await client.exists(prefix + "a", prefix + "b") == 0)

            // Wrong arity is also rejected while queueing.
            let arity = try await #require(throws: RedisError.self) {
                try await client.transaction([RedisCommand("SET", prefix + "a", "1"), RedisCommand("GET")])
            }
            #expect(arity.code == .transactionAborted)
            #expect(try await client.exists(prefix + "a") == 0)

            // The shared connection is not left inside MULTI.
            try await client.set(prefix + "after", to: "ok")
            #expect(try await client.get(prefix + "after") == "ok")
            let results = try await client.transaction([RedisCommand("INCR", prefix + "n")])
            #expect(try results[0].get().decode(as: Int.self) == 1)
        }
    }

    @Test func watchedKeyChangedAbortsTheTransaction() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            try await TestRedis.withClient { other in
                let key = prefix + "balance"
                try await client.set(key, to: "100")
                try await client.withConnection { connection in
                    _ = try await connection.send(RedisCommand("WATCH", key))
                    #expect(try await connection.get(key) == "100")
                    try await other.set(key, to: "50")
                    let error = try await #require(throws: RedisError.self) {
                        try await connection.transaction([RedisCommand("SET", key, "90")])
                    }
                    #expect(error.code == .transactionAborted)
                    // EXEC unwatches: the connection can run a transaction again.
                    let retry = try await connection.transaction([RedisCommand("INCRBY", key, -10)])
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
                let results = try await client.withConnection { connection in
                    _ = try await connection.send(RedisCommand("WATCH", key))
                    let balance = try #require(try await connection.get(key, as: Int.self))
                    // Another client changing an unrelated key does not matter.
                    try await other.set(prefix + "unrelated", to: "x")
                    return try await connection.transaction([
                        RedisCommand("SET", key, balance - 30),
                        RedisCommand("GET", key),
                    ])
                }
                #expect(try results[0].get().decode(as: String.self) == "OK")
                #expect(try results[1].get().decode(as: String.self) == "70")
                #expect(try await client.get(key) == "70")
            }
        }
    }
}
