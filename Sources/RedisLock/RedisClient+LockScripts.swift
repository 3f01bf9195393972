import RedisClient

extension RedisClient {
    /// Runs a lock script like `eval` (`EVALSHA`, then `EVAL` if the server does not have it), but waits at
    /// most `timeout` in all for the replies; nil waits the client's command timeout for each.
    func evalLockScript(
        _ script: RedisScript,
        keys: [String],
        arguments: [any RESPArgument],
        timeout: Duration?
    ) async throws -> RESPValue {
        guard let timeout else { return try await self.eval(script, keys: keys, arguments: arguments) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        func command(_ name: String, _ body: String) -> RedisCommand {
            var command = RedisCommand(name)
            command.append(body)
            command.append(keys.count)
            command.appendKeys(contentsOf: keys)
            for argument in arguments { argument.append(to: &command) }
            return command
        }
        do {
            return try await self.send(command("EVALSHA", script.sha1), timeout: timeout)
        } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw RedisError(.commandTimeout, "no time left to load the lock script") }
            return try await self.send(command("EVAL", script.source), timeout: left)
        }
    }
}
