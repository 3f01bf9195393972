import Foundation
import RedisClient
import StreamQueue
import Testing

/// What an idle consumer costs Redis, counted on a server of the test's own (`INFO commandstats`): a consumer
/// with nothing to do must wait, not poll in a loop.
@Suite struct IdleCostTests {
    @Test func anIdleConsumerSendsAFewCommandsASecondNotThousands() async throws {
        let server = try await PersistentRedisServer.start()
        let prefix = QueueTest.prefix()
        var configuration = QueueConsumerConfiguration()  // the shipped defaults: this is what users run
        configuration.shutdownGracePeriod = .seconds(2)
        let admin = QueueTest.client(url: server.url)
        // Something pending in the group that is not due for takeover, held by another consumer: the reclaimer
        // has a page to scan (the loop that used to spin found "more" after every page, empty or not).
        let queue = QueueTest.queue(admin, prefix: prefix)
        let stream = queue.streamKey("orders")
        _ = try await admin.xgroupCreate(stream, group: "emails", startID: "0")
        try await queue.publish(OutgoingMessage(id: "held", type: "t", payload: ""), to: "orders")
        _ = try await admin.send(
            RedisCommand("XREADGROUP", "GROUP", "emails", "someone-else", "COUNT", 1, "STREAMS", stream, ">")
        )
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: configuration,
            url: server.url
        ) { _ in }
        // Let the consumer pick up its work, then count a quiet window.
        try await Task.sleep(for: .seconds(1))
        _ = try await admin.send(RedisCommand("CONFIG", "RESETSTAT"))
        try await Task.sleep(for: .seconds(3))
        let calls = try await Self.commandCalls(admin)
        await consumer.stop()
        await admin.shutdown()
        await server.destroy()

        let total = calls.values.reduce(0, +)
        // Defaults: one promotion look a second (a script of 3 commands), a blocking read every 2 s, a reclaim
        // pass (2 scripts) every 5 s, gauges (4 commands) every 5 s: about 6 commands a second. A polling loop
        // sends thousands.
        #expect(total <= 60, "an idle consumer sent \(total) commands in 3 s: \(calls)")
        #expect(total >= 3, "the count saw nothing (\(calls)); the consumer was not running")
    }

    /// `cmdstat_<name>:calls=<n>,...` lines of `INFO commandstats`, without the INFO and CONFIG the test sent.
    static func commandCalls(_ client: RedisClient) async throws -> [String: Int] {
        let info = try await client.send(RedisCommand("INFO", "commandstats")).decode(as: String.self)
        var calls: [String: Int] = [:]
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let parts = line.dropFirst("cmdstat_".count).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let field = parts[1].split(separator: ",").first,
                field.hasPrefix("calls="), let count = Int(field.dropFirst("calls=".count))
            else { continue }
            let name = String(parts[0])
            if name == "info" || name.hasPrefix("config") { continue }
            calls[name] = count
        }
        return calls
    }
}
