public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
import NIOSSL

extension RedisConnection {
    /// Opens a connection and performs the handshake: `HELLO 3` (with `AUTH` and `SETNAME` when configured),
    /// then `SELECT` when the database is not 0.
    ///
    /// - Parameters:
    ///   - configuration: Where to connect and how.
    ///   - id: A number identifying the connection in logs.
    ///   - eventLoop: The event loop the connection lives on.
    ///   - logger: Where to log; credentials are never logged.
    /// - Returns: A ready connection.
    /// - Throws: ``RedisError`` with ``RedisError/Code/connectionUnavailable``, ``RedisError/Code/connectTimeout``,
    ///   ``RedisError/Code/authenticationFailed`` or ``RedisError/Code/unsupportedServer``.
    public static func connect(
        configuration: RedisConfiguration,
        id: Int = 0,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws -> RedisConnection {
        try await self.connect(
            configuration: configuration,
            id: id,
            eventLoop: eventLoop,
            sslContext: configuration.tls.map { try NIOSSLContext(configuration: $0) },
            logger: logger,
            pushHandler: nil
        )
    }

    static func connect(
        configuration: RedisConfiguration,
        id: Int,
        eventLoop: any EventLoop,
        sslContext: NIOSSLContext?,
        logger: Logger,
        pushHandler: PushHandler?
    ) async throws -> RedisConnection {
        let state = NIOLockedValueBox(
            Queue(
                limits: .init(
                    maxPendingRequests: max(1, configuration.maxPendingRequests),
                    maxPendingBytes: max(1, configuration.maxPendingBytes)
                )
            )
        )
        let sink = SinkBox()
        let serverHostname = Self.isIPAddress(configuration.host) ? nil : configuration.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(limits: configuration.decoderLimits, sink: sink)
                    )
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch ChannelError.connectTimeout {
            throw RedisError(.connectTimeout, "connecting to \(configuration.host):\(configuration.port) timed out")
        } catch {
            throw RedisError(
                .connectionUnavailable,
                "cannot connect to \(configuration.host):\(configuration.port)",
                underlying: error
            )
        }
        let connection = RedisConnection(
            channel: channel,
            id: id,
            state: state,
            commandTimeout: configuration.commandTimeout,
            pushHandler: pushHandler
        )
        // Attach on the event loop, where every sink call happens, so a close that raced the connect is not lost.
        try await channel.eventLoop.submit {
            sink.connection = connection
            if !channel.isActive { connection.closed(error: nil) }
        }.get()

        do {
            try await connection.handshake(configuration: configuration)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        logger.debug(
            "redis connection ready",
            metadata: ["redis.connection": "\(id)", "redis.server": "\(configuration.host):\(configuration.port)"]
        )
        return connection
    }

    private func handshake(configuration: RedisConfiguration) async throws {
        let replies: [RESPValue]
        do {
            replies = try await self.pipeline(
                Self.handshakeCommands(configuration),
                timeout: configuration.connectTimeout
            )
        } catch let error as RedisError where error.code == .commandTimeout {
            throw RedisError(.connectTimeout, "no answer to HELLO within the connect timeout")
        }
        try Self.checkHandshake(replies, configuration: configuration)
    }

    /// `HELLO 3` (with `AUTH` and `SETNAME` when configured), then `SELECT` when the database is not 0.
    static func handshakeCommands(_ configuration: RedisConfiguration) -> [RedisCommand] {
        var hello = RedisCommand("HELLO")
        hello.append("3")
        if let password = configuration.password {
            hello.append("AUTH")
            hello.append(configuration.username ?? "default")
            hello.append(password)
        }
        if let name = configuration.clientName {
            hello.append("SETNAME")
            hello.append(name)
        }
        var commands = [hello]
        if configuration.database != 0 {
            commands.append(RedisCommand("SELECT", configuration.database))
        }
        if configuration.requiresPrimaryRole {
            commands.append(RedisCommand("ROLE"))
        }
        if configuration.readOnlyReplica {
            commands.append(RedisCommand("READONLY"))
        }
        return commands
    }

    /// Throws the right error when a reply to ``handshakeCommands(_:)`` is an error.
    static func checkHandshake(_ replies: [RESPValue], configuration: RedisConfiguration) throws {
        if let first = replies.first, let error = RedisError.fromReply(first) {
            throw Self.classifyHelloError(error)
        }
        if configuration.database != 0, replies.count > 1, let error = RedisError.fromReply(replies[1]) {
            throw RedisError(.invalidConfiguration, "SELECT \(configuration.database) failed: \(error.message)")
        }
        if configuration.readOnlyReplica, let readOnly = replies.last, let error = RedisError.fromReply(readOnly) {
            // Without READONLY a replica answers every read with MOVED: treat the node as unusable.
            throw RedisError(
                .connectionUnavailable,
                "\(RedisEndpoint(host: configuration.host, port: configuration.port)) refused READONLY: \(error.message)"
            )
        }
        if configuration.requiresPrimaryRole, !configuration.readOnlyReplica, let role = replies.last {
            // A primary Sentinel named may have been demoted since: never write to a replica.
            guard case .array(let parts) = role, let first = parts.first,
                (try? first.decode(as: String.self)) == "master"
            else {
                throw RedisError(
                    .connectionUnavailable,
                    "\(RedisEndpoint(host: configuration.host, port: configuration.port)) is not a primary (ROLE)"
                )
            }
        }
    }

    /// What an error reply to `HELLO` means, decided by its prefix (the error code Redis puts first), never by
    /// words inside the message.
    static func classifyHelloError(_ error: RedisError) -> RedisError {
        switch error.serverErrorPrefix {
        case "WRONGPASS", "NOAUTH":
            return RedisError(.authenticationFailed, error.message)
        case "NOPERM":
            return RedisError(.authenticationFailed, "the user may not run HELLO: \(error.message)")
        case "NOPROTO":
            return RedisError(.unsupportedServer, "the server does not support RESP3 (HELLO 3): \(error.message)")
        case "ERR" where error.message.lowercased().hasPrefix("err unknown command"):
            return RedisError(.unsupportedServer, "the server does not know HELLO; Redis 6 or later is required")
        default:
            // LOADING, BUSY, MASTERDOWN and the like stay server errors, so `isUnavailability` sees them.
            return error
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Lets the channel handler exist before the connection it reports to.
private final class SinkBox: RedisReplySink, @unchecked Sendable {
    // Only touched on the channel's event loop.
    var connection: RedisConnection?

    func received(_ values: [RESPValue]) { self.connection?.received(values) }
    func protocolViolation(_ error: RESPDecodingError) { self.connection?.protocolViolation(error) }
    func closed(error: (any Error)?) { self.connection?.closed(error: error) }
}
