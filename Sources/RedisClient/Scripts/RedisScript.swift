import Crypto

/// A Lua script, identified by its SHA-1 so it can run with `EVALSHA`.
///
/// Create scripts once (as static constants) and run them with ``RedisCommands/eval(_:keys:arguments:)``:
/// it sends `EVALSHA` and, when the server does not know the script (after `SCRIPT FLUSH` or a restart),
/// falls back to `EVAL`, which also loads it. Keys go in `keys` so Redis (and Redis Cluster) know what the
/// script touches; every key of one script must share a hash tag to work on a cluster.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// The lowercase hex SHA-1 of the source, as Redis computes it.
    public let sha1: String

    /// Creates a script.
    /// - Parameter source: The Lua source.
    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

extension RedisCommands {
    /// Runs a script with `EVALSHA`, falling back to `EVAL` when the server does not have it cached.
    /// - Parameters:
    ///   - script: The script.
    ///   - keys: The keys it touches (`KEYS[1]`, ...).
    ///   - arguments: Other arguments (`ARGV[1]`, ...).
    /// - Returns: The script's reply.
    /// - Throws: ``RedisError`` `.server` for a script error.
    public func eval(
        _ script: RedisScript,
        keys: [String] = [],
        arguments: [any RESPArgument] = []
    ) async throws -> RESPValue {
        do {
            return try await self.send(Self.evalCommand("EVALSHA", script.sha1, keys: keys, arguments: arguments))
        } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
            return try await self.send(Self.evalCommand("EVAL", script.source, keys: keys, arguments: arguments))
        }
    }

    /// `SCRIPT LOAD source`.
    /// - Parameter script: The script.
    /// - Returns: The SHA-1 the server computed.
    @discardableResult
    public func scriptLoad(_ script: RedisScript) async throws -> String {
        try await self.send(RedisCommand("SCRIPT", "LOAD", script.source)).decode(as: String.self)
    }

    /// `SCRIPT EXISTS sha...`.
    /// - Parameter scripts: The scripts.
    /// - Returns: Whether each is cached on the server.
    public func scriptExists(_ scripts: [RedisScript]) async throws -> [Bool] {
        guard !scripts.isEmpty else { return [] }
        var command = RedisCommand("SCRIPT")
        command.append("EXISTS")
        command.append(contentsOf: scripts.map(\.sha1))
        return try await self.send(command).decode(as: [Bool].self)
    }

    private static func evalCommand(
        _ name: String,
        _ body: String,
        keys: [String],
        arguments: [any RESPArgument]
    ) -> RedisCommand {
        var command = RedisCommand(name)
        command.append(body)
        command.append(keys.count)
        command.appendKeys(contentsOf: keys)
        for argument in arguments { argument.append(to: &command) }
        return command
    }
}
