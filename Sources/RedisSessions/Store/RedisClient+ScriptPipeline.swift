import RedisClient

/// One command of a pipeline that may run scripts.
enum PipelinedCall: Sendable {
    /// A script, sent as `EVALSHA` (and as `EVAL` again if the server does not know it).
    case script(RedisScript, keys: [String], arguments: [any RESPArgument])
    /// Any other command.
    case command(RedisCommand)

    func command(loadingScript: Bool) -> RedisCommand {
        switch self {
        case .command(let command):
            return command
        case .script(let script, let keys, let arguments):
            var command = RedisCommand(loadingScript ? "EVAL" : "EVALSHA", capacity: 256)
            command.append(loadingScript ? script.source : script.sha1)
            command.append(keys.count)
            command.appendKeys(contentsOf: keys)
            for argument in arguments { argument.append(to: &command) }
            return command
        }
    }
}

extension RedisClient {
    /// Sends `calls` in one pipeline; scripts the server does not have cached (`NOSCRIPT`, which means they
    /// did not run) are sent again with `EVAL` in a second pipeline. Results keep the order of `calls`.
    func pipelineWithScripts(_ calls: [PipelinedCall]) async throws -> [Result<RESPValue, RedisError>] {
        var results = try await self.pipeline(calls.map { $0.command(loadingScript: false) })
        let missing = results.indices.filter { index in
            if case .failure(let error) = results[index], error.serverErrorPrefix == "NOSCRIPT" { return true }
            return false
        }
        guard !missing.isEmpty else { return results }
        let retried = try await self.pipeline(missing.map { calls[$0].command(loadingScript: true) })
        for (index, result) in zip(missing, retried) {
            results[index] = result
        }
        return results
    }
}
