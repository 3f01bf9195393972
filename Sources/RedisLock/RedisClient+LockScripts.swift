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
        let rest: [any RESPArgument] = [keys.count] + keys.map { $0 as any RESPArgument } + arguments
        do {
            return try await self.send(RedisCommand("EVALSHA", arguments: [script.sha1] + rest), timeout: timeout)
        } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw RedisError(.commandTimeout, "no time left to load the lock script") }
            return try await self.send(RedisCommand("EVAL", arguments: [script.source] + rest), timeout: left)
        }
    }
}
