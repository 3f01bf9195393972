import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import RedisClient

/// The connection over an in-memory channel: exact bytes written, replies routed in order, auto-pipelining,
/// cancellation and protocol errors — no socket involved.
@Suite struct RedisConnectionChannelTests {
    private final class Pushes: Sendable {
        let received = NIOLockedValueBox<[[RESPValue]]>([])
    }

    private func makeConnection(pushes: Pushes? = nil) async throws -> (RedisConnection, NIOAsyncTestingChannel) {
        let channel = NIOAsyncTestingChannel()
        var handler: RedisConnection.PushHandler?
        if let pushes {
            handler = { push in pushes.received.withLockedValue { $0.append(push) } }
        }
        let connection = RedisConnection(
            channel: channel,
            id: 1,
            state: NIOLockedValueBox(RedisConnection.Queue()),
            commandTimeout: nil,
            pushHandler: handler
        )
        try await channel.pipeline.addHandler(RedisChannelHandler(limits: .init(), sink: connection))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        return (connection, channel)
    }

    private func waitForInFlight(_ connection: RedisConnection, _ count: Int) async throws {
        for _ in 0..<1_000 where connection.inFlightCount < count {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(connection.inFlightCount == count)
    }

    /// Everything written so far, concatenated (commands may leave in one or several writes).
    private func written(_ channel: NIOAsyncTestingChannel) async throws -> String {
        // Flushes are queued on the loop's serial queue before this run, so they have happened after it.
        await channel.testingEventLoop.run()
        var all = ""
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { all += String(buffer: buffer) }
        return all
    }

    @Test func commandsEnqueuedInOneEventLoopTurnAreWrittenInOneFlush() async throws {
        let (connection, channel) = try await self.makeConnection()
        // Three callers enqueue while the event loop is busy (here: inside one of its turns).
        let futures = try await channel.testingEventLoop.executeInContext {
            (0..<3).map { index in
                connection.enqueue([RedisCommand("GET", "k\(index)")], expectedReplies: 1, kind: .regular)
            }
        }
        await channel.testingEventLoop.run()
        let first = try await channel.readOutbound(as: ByteBuffer.self)
        #expect(
            first.map { String(buffer: $0) }
                == "*2\r\n$3\r\nGET\r\n$2\r\nk0\r\n*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n"
        )
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil, "one write, not one per command")
        // Replies arrive split across a reply boundary.
        try await channel.writeInbound(ByteBuffer(string: "$2\r\nv0\r\n$2\r\nv"))
        try await channel.writeInbound(ByteBuffer(string: "1\r\n_\r\n"))
        #expect(try await futures[0].get() == [.blobString(ByteBuffer(string: "v0"))])
        #expect(try await futures[1].get() == [.blobString(ByteBuffer(string: "v1"))])
        #expect(try await futures[2].get() == [.null])
        #expect(connection.inFlightCount == 0)
    }

    @Test func concurrentCallersGetTheirOwnRepliesInOrder() async throws {
        let (connection, channel) = try await self.makeConnection()
        try await withThrowingTaskGroup(of: (Int, RESPValue).self) { group in
            for index in 0..<3 {
                group.addTask { (index, try await connection.send(RedisCommand("GET", "k\(index)"))) }
                try await self.waitForInFlight(connection, index + 1)
            }
            #expect(
                try await self.written(channel)
                    == "*2\r\n$3\r\nGET\r\n$2\r\nk0\r\n*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n"
            )
            try await channel.writeInbound(ByteBuffer(string: "$2\r\nv0\r\n$2\r\nv1\r\n_\r\n"))
            var results: [Int: RESPValue] = [:]
            for try await (index, value) in group { results[index] = value }
            #expect(results[0] == .blobString(ByteBuffer(string: "v0")))
            #expect(results[1] == .blobString(ByteBuffer(string: "v1")))
            #expect(results[2] == .null)
        }
    }

    @Test func cancellingOneCallerLeavesTheOthersAndTheConnectionIntact() async throws {
        let (connection, channel) = try await self.makeConnection()
        let first = Task { try await connection.send(RedisCommand("GET", "a")) }
        try await self.waitForInFlight(connection, 1)
        let second = Task { try await connection.send(RedisCommand("GET", "b")) }
        try await self.waitForInFlight(connection, 2)
        let third = Task { try await connection.send(RedisCommand("GET", "c")) }
        try await self.waitForInFlight(connection, 3)
        _ = try await self.written(channel)

        second.cancel()
        await #expect(throws: CancellationError.self) { try await second.value }
        // The cancelled request's reply still arrives and is discarded; the others get theirs.
        try await channel.writeInbound(ByteBuffer(string: "+A\r\n+B\r\n+C\r\n"))
        #expect(try await first.value == .simpleString(ByteBuffer(string: "A")))
        #expect(try await third.value == .simpleString(ByteBuffer(string: "C")))
        #expect(!connection.isClosed)

        let fourth = Task { try await connection.send(RedisCommand("PING")) }
        try await self.waitForInFlight(connection, 1)
        #expect(try await self.written(channel) == "*1\r\n$4\r\nPING\r\n")
        try await channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(try await fourth.value == .simpleString(ByteBuffer(string: "PONG")))
    }

    @Test func errorRepliesAreThrownAndPipelinesReturnThem() async throws {
        let (connection, channel) = try await self.makeConnection()
        let single = Task { try await connection.send(RedisCommand("INCR", "x")) }
        try await self.waitForInFlight(connection, 1)
        let batch = Task { try await connection.pipeline([RedisCommand("A"), RedisCommand("B")]) }
        try await self.waitForInFlight(connection, 2)
        await channel.testingEventLoop.run()
        _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        try await channel.writeInbound(ByteBuffer(string: "-WRONGTYPE nope\r\n:1\r\n-ERR bad\r\n"))
        do {
            _ = try await single.value
            Issue.record("expected a server error")
        } catch let error as RedisError {
            #expect(error.code == .server)
            #expect(error.serverErrorPrefix == "WRONGTYPE")
        }
        #expect(try await batch.value == [.number(1), .simpleError(ByteBuffer(string: "ERR bad"))])
    }

    @Test func pushFramesGoToThePushHandlerNotToWaitingCallers() async throws {
        let pushes = Pushes()
        let (connection, channel) = try await self.makeConnection(pushes: pushes)
        let waiting = Task { try await connection.send(RedisCommand("PING")) }
        try await self.waitForInFlight(connection, 1)
        await channel.testingEventLoop.run()
        _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        try await channel.writeInbound(
            ByteBuffer(string: ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n|1\r\n+a\r\n+b\r\n+PONG\r\n")
        )
        #expect(try await waiting.value == .simpleString(ByteBuffer(string: "PONG")))
        let received = pushes.received.withLockedValue { $0 }
        #expect(received.count == 1)
        #expect(received.first?.count == 3)
    }

    @Test func malformedBytesFailWaitersAndCloseTheConnection() async throws {
        let (connection, channel) = try await self.makeConnection()
        let waiting = Task { try await connection.send(RedisCommand("GET", "a")) }
        try await self.waitForInFlight(connection, 1)
        await channel.testingEventLoop.run()
        _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        try? await channel.writeInbound(ByteBuffer(string: "@garbage\r\n"))
        do {
            _ = try await waiting.value
            Issue.record("expected a protocol error")
        } catch let error as RedisError {
            #expect(error.code == .protocolViolation)
        }
        #expect(connection.isClosed)
        await #expect(throws: RedisError.self) { try await connection.send(RedisCommand("PING")) }
    }

    @Test func replyWithNothingWaitingClosesTheConnection() async throws {
        let (connection, channel) = try await self.makeConnection()
        try? await channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        await channel.testingEventLoop.run()
        #expect(connection.isClosed)
    }
}
