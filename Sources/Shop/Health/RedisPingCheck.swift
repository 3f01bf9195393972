import NIOCore
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Ready when Redis answers `PING` with `+PONG`, over a plain TCP exchange.
///
/// It opens a short-lived connection per check (sending `AUTH` first when the URL has a password), so
/// it works without a Redis client library and cannot be fooled by a pooled connection's state.
struct RedisPingCheck: ReadinessCheck {
    let url: RedisURL
    let connectTimeout: Duration
    var name: String { "redis" }

    func check() async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(max(1, self.connectTimeout.milliseconds)))
            .connect(host: self.url.host, port: self.url.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var request = ByteBuffer()
            var expectedReplies = 1
            if let password = self.url.password {
                let auth = self.url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                Self.writeCommand(auth, into: &request)
                expectedReplies += 1
            }
            Self.writeCommand(["PING"], into: &request)
            try await outbound.write(request)

            var received = ByteBuffer()
            for try await chunk in inbound {
                var chunk = chunk
                received.writeBuffer(&chunk)
                guard received.readableBytes <= 4096 else { throw RedisPingError("unexpected reply") }
                let text = String(buffer: received)
                let lines = text.components(separatedBy: "\r\n").dropLast()
                if let error = lines.first(where: { $0.hasPrefix("-") }) {
                    throw RedisPingError(Self.safeErrorText(error))
                }
                if lines.count >= expectedReplies {
                    guard lines[lines.startIndex + expectedReplies - 1] == "+PONG" else {
                        throw RedisPingError("unexpected reply to PING")
                    }
                    return
                }
            }
            throw RedisPingError("connection closed before PONG")
        }
    }

    /// A RESP array of bulk strings.
    private static func writeCommand(_ parts: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(parts.count)\r\n")
        for part in parts {
            buffer.writeString("$\(part.utf8.count)\r\n")
            buffer.writeString(part)
            buffer.writeString("\r\n")
        }
    }

    /// The error's first word (`-NOAUTH`, `-WRONGPASS`), which never contains a secret.
    private static func safeErrorText(_ line: String) -> String {
        let word = line.dropFirst().prefix { $0 != " " }.prefix(40)
        return "redis answered \(word)"
    }
}

struct RedisPingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
