import Foundation
import RedisClient
import Testing

@Suite struct ScriptTests {
    /// A script no other test (or earlier run) has sent, so the server cannot have it cached yet.
    private func uniqueScript(_ body: String) -> RedisScript {
        RedisScript("-- \(UUID().uuidString)\n" + body)
    }

    @Test func sha1MatchesTheServer() async throws {
        try await TestRedis.withClient { client async throws in
            let script = uniqueScript("return 1")
            #expect(script.sha1.count == 40)
            #expect(try await client.scriptLoad(script) == script.sha1)
            // A known value: SHA-1 of "return 1".
            #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        }
    }

    @Test func evalWithKeysAndArguments() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let script = uniqueScript(
                """
                redis.call('SET', KEYS[1], ARGV[1])
                local total = redis.call('INCRBY', KEYS[2], ARGV[2])
                return {KEYS[1], redis.call('GET', KEYS[1]), total, #KEYS, #ARGV}
                """
            )
            // Not cached yet: EVALSHA fails with NOSCRIPT and the helper falls back to EVAL.
            #expect(try await client.scriptExists([script]) == [false])
            let reply = try await client.eval(script, keys: [prefix + "a", prefix + "n"], arguments: ["hello", 5])
            guard case .array(let parts) = reply, parts.count == 5 else {
                Issue.record("unexpected reply \(reply)")
                return
            }
            #expect(try parts[0].decode(as: String.self) == prefix + "a")
            #expect(try parts[1].decode(as: String.self) == "hello")
            #expect(try parts[2].decode(as: Int.self) == 5)
            #expect(try parts[3].decode(as: Int.self) == 2)
            #expect(try parts[4].decode(as: Int.self) == 2)
            // On a cluster EVAL cached the script on the keys' node only, and scriptExists answers for every primary.
            #expect(try await client.scriptExists([script]) == [!TestRedis.isCluster])

            // Cached now: runs again through EVALSHA.
            let again = try await client.eval(script, keys: [prefix + "a", prefix + "n"], arguments: ["bye", -2])
            guard case .array(let second) = again, second.count == 5 else {
                Issue.record("unexpected reply \(again)")
                return
            }
            #expect(try second[1].decode(as: String.self) == "bye")
            #expect(try second[2].decode(as: Int.self) == 3)
            #expect(try await client.get(prefix + "n") == "3")
        }
    }

    @Test func evalWithoutKeysAndBinaryArguments() async throws {
        try await TestRedis.withClient { client in
            let script = uniqueScript("return {#KEYS, ARGV[1], string.len(ARGV[2])}")
            let reply = try await client.eval(script, arguments: ["x", [UInt8](arrayLiteral: 0, 1, 2, 255)])
            #expect(try reply.decode(as: [RESPValue].self).count == 3)
            let parts = try reply.decode(as: [RESPValue].self)
            #expect(try parts[0].decode(as: Int.self) == 0)
            #expect(try parts[1].decode(as: String.self) == "x")
            #expect(try parts[2].decode(as: Int.self) == 4)

            let nilReply = try await client.eval(uniqueScript("return nil"))
            #expect(nilReply.isNull)
        }
    }

    @Test func scriptErrorsAreServerErrors() async throws {
        let prefix = TestRedis.prefix()
        try await TestRedis.withClient { client in
            let custom = uniqueScript("return redis.error_reply('MYERR something went wrong')")
            let error = try await #require(throws: RedisError.self) { try await client.eval(custom) }
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "MYERR")
            #expect(error.message.contains("something went wrong"))

            // A failing redis.call inside the script (WRONGTYPE).
            try await client.rpush(prefix + "list", ["x"])
            let failing = uniqueScript("return redis.call('INCR', KEYS[1])")
            let wrongType = try await #require(throws: RedisError.self) {
                try await client.eval(failing, keys: [prefix + "list"])
            }
            #expect(wrongType.code == .server)
            #expect(wrongType.message.contains("WRONGTYPE"))

            // A Lua syntax error (EVAL after NOSCRIPT fails to compile).
            let broken = uniqueScript("return (")
            let syntax = try await #require(throws: RedisError.self) { try await client.eval(broken) }
            #expect(syntax.code == .server)
            #expect(syntax.serverErrorPrefix != "NOSCRIPT")

            // The client keeps working.
            #expect(try await client.lrange(prefix + "list") == ["x"])
        }
    }

    @Test func loadAndExists() async throws {
        try await TestRedis.withClient { client async throws in
            let loaded = uniqueScript("return 'loaded'")
            let other = uniqueScript("return 'other'")
            #expect(try await client.scriptExists([loaded, other]) == [false, false])
            #expect(try await client.scriptLoad(loaded) == loaded.sha1)
            #expect(try await client.scriptExists([loaded, other]) == [true, false])
            #expect(try await client.scriptExists([]) == [])
            #expect(try await client.eval(loaded).decode(as: String.self) == "loaded")
        }
    }

    @Test func evalRecoversAfterScriptFlush() async throws {
        try await withPrivateServer { _, client in
            let script = RedisScript("return redis.call('INCR', KEYS[1])")
            #expect(try await client.eval(script, keys: ["counter"]).decode(as: Int.self) == 1)
            #expect(try await client.scriptExists([script]) == [true])

            _ = try await client.send(RedisCommand("SCRIPT", "FLUSH"))
            #expect(try await client.scriptExists([script]) == [false])

            // EVALSHA -> NOSCRIPT -> EVAL, which caches it again.
            #expect(try await client.eval(script, keys: ["counter"]).decode(as: Int.self) == 2)
            #expect(try await client.scriptExists([script]) == [true])
            #expect(try await client.eval(script, keys: ["counter"]).decode(as: Int.self) == 3)

            // The same on a leased connection.
            _ = try await client.send(RedisCommand("SCRIPT", "FLUSH"))
            let value = try await client.withConnection { connection in
                try await connection.eval(script, keys: ["counter"]).decode(as: Int.self)
            }
            #expect(value == 4)
            #expect(try await client.scriptExists([script]) == [true])
        }
    }
}
