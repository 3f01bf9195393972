import RedisClient
import Testing

@Suite struct ServerCommandTests {
    @Test func ping() async throws {
        try await TestRedis.withClient { client in
            try await client.ping()
            try await client.withConnection { connection in try await connection.ping() }
        }
    }

    @Test func infoServerSection() async throws {
        try await TestRedis.withClient { client in
            let info = try await client.info("server")
            #expect(Array(info.keys) == ["server"])
            let server = try #require(info["server"])
            let version = try #require(server["redis_version"])
            #expect(version.first?.isNumber == true)
            #expect(version.split(separator: ".").count >= 2)
            #expect(!version.contains("\r"))
            #expect(server["tcp_port"].flatMap { Int($0) } != nil)
        }
    }

    @Test func infoDefaultSections() async throws {
        try await TestRedis.withClient { client in
            let info = try await client.info()
            #expect(info["server"]?["redis_version"] != nil)
            #expect(info["clients"]?["connected_clients"].flatMap { Int($0) }.map { $0 >= 1 } == true)
            #expect(info["memory"]?["used_memory"] != nil)
            #expect(info.keys.allSatisfy { $0 == $0.lowercased() && !$0.isEmpty })
        }
    }

    @Test(
        .disabled(
            if: TestRedis.isCluster,
            "a cluster client has one shared connection per node: CLIENT ID answers for whichever primary it reaches"
        )
    )
    func clientIDIdentifiesTheConnection() async throws {
        try await TestRedis.withClient { client in
            let shared = try await client.clientID()
            #expect(shared > 0)
            #expect(try await client.clientID() == shared)
            let leased = try await client.withConnection { connection in try await connection.clientID() }
            #expect(leased > 0)
            #expect(leased != shared)
        }
    }
}
