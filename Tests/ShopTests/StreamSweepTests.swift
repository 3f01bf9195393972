import Logging
import RedisClient
import RedisSessions
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Expired sessions (not announced) are found by one sweep of the hub for all its streams — one `EXISTS` per
/// distinct session, not one per stream — and the sweep runs only while streams are open (docs/security.md,
/// "Sessions and open streams").
@Suite("Notification stream session sweep")
struct StreamSweepTests {
    /// How many EXISTS `server` ran since its statistics were last reset.
    static func existsCalls(_ server: CatalogRedisServer) async -> Int {
        let info = await server.cli(["INFO", "commandstats"])
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_exists:") })
        else { return 0 }
        let calls = line.dropFirst("cmdstat_exists:calls=".count).prefix { $0.isNumber }
        return Int(calls) ?? 0
    }

    @Test func oneExistsPerSessionPerSweepHoweverManyStreamsShareIt() async throws {
        let server = try await CatalogRedisServer.start()
        let redis = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: TestServers.logger)
        do {
            var configuration = AccountsConfiguration()
            configuration.sessionKeyPrefix = "test:sweep:"
            let user = AuthenticatedUser(id: UUID(), email: "sweep@example.com", role: .user, createdAt: Date())
            let users = PasswordChangeFailureTests.Users(
                StoredUser(user: user, passwordHash: PasswordHash("-")),
                afterStoring: {}
            )
            let store = try AccountService(
                configuration: configuration,
                redis: redis,
                users: users,
                logger: TestServers.logger
            ).sessions
            let client = SessionClient(userAgent: "tests/1.0", address: "192.0.2.1")
            let laptop = try await store.create(user, userID: user.id.uuidString.lowercased(), client: client)
            let phone = try await store.create(user, userID: user.id.uuidString.lowercased(), client: client)
            // Sweeps only when told here (the interval is never reached).
            let hub = NotificationHub(
                capacity: 16,
                maxStreams: 100,
                sweep: .init(interval: .seconds(3600)) { try await store.endedSessions(storageHashes: $0) }
            )
            var laptopStreams: [NotificationHub.Stream] = []
            for _ in 0..<4 {
                laptopStreams.append(try #require(hub.open(user: user.id, session: laptop.id.storageHash)))
            }
            for _ in 0..<3 { _ = try #require(hub.open(user: user.id, session: phone.id.storageHash)) }

            // Seven streams, two sessions: two EXISTS.
            await server.cli(["CONFIG", "RESETSTAT"])
            await hub.sweepOnce()
            #expect(await Self.existsCalls(server) == 2)
            #expect(hub.openStreams == 7)

            // The laptop's session expires (unannounced): the next sweep ends its four streams.
            #expect(try await redis.delete(["test:sweep:session:{\(laptop.id.storageHash)}"]) == 1)
            await server.cli(["CONFIG", "RESETSTAT"])
            await hub.sweepOnce()
            #expect(await Self.existsCalls(server) == 2)
            #expect(hub.openStreams == 3)
            #expect(laptopStreams.filter(\.ended).count == 4)

            // After a pub/sub gap: one sweep for all (one EXISTS for the phone's three streams).
            await server.cli(["CONFIG", "RESETSTAT"])
            let before = hub.sessionSweeps
            hub.checkAllSessions()
            for _ in 0..<500 where hub.sessionSweeps == before { try await Task.sleep(for: .milliseconds(10)) }
            #expect(hub.sessionSweeps == before + 1)
            #expect(await Self.existsCalls(server) == 1)
            #expect(hub.openStreams == 3)
        } catch {
            await redis.shutdown()
            await server.destroy()
            throw error
        }
        await redis.shutdown()
        await server.destroy()
    }

    @Test func theSweepRunsOnlyWhileStreamsAreOpen() async throws {
        let asked = Mutex(0)
        let hub = NotificationHub(
            capacity: 4,
            maxStreams: 10,
            sweep: .init(interval: .milliseconds(10)) { _ in
                asked.withLock { $0 += 1 }
                return []
            }
        )
        #expect(!hub.isSweeping)
        let stream = try #require(hub.open(user: UUID(), session: "a"))
        #expect(hub.isSweeping)
        for _ in 0..<500 where asked.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(asked.withLock { $0 } >= 2, "the sweep runs while a stream is open")
        hub.close(stream.id)
        for _ in 0..<500 where hub.isSweeping { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!hub.isSweeping, "no stream, no loop")
        // Nothing is asked about when nothing is open.
        await hub.sweepOnce()
        let idle = hub.sessionSweeps
        await hub.sweepOnce()
        #expect(hub.sessionSweeps == idle)
        // The next stream starts it again; shutdown stops it.
        _ = try #require(hub.open(user: UUID(), session: "b"))
        #expect(hub.isSweeping)
        hub.shutdown()
        #expect(!hub.isSweeping)
    }
}
