import Foundation
import RedisClient

/// The scheduler's state in Redis, per job and all under the job's hash tag (`<prefix>{<job>}:...`), so every
/// script touches one cluster slot:
///
/// - `:last` — the newest tick claimed (Unix ms). A tick at or before it is never run again, whichever
///   instance's clock says it is due.
/// - `:current` — the run in progress (JSON), with a TTL, for status pages.
/// - `:history` — the latest runs (JSON, newest first), trimmed to a fixed length.
/// - `:paused` — present while the job is paused on every instance (JSON: who paused it and when).
struct SchedulerStore: Sendable {
    /// What claiming a tick found.
    enum Claim: Int, Sendable {
        /// Claimed: run it.
        case claimed = 1
        /// Claimed before (by any instance): skip it.
        case taken = 0
        /// The job is paused: the tick is recorded as claimed (so it is not caught up after a resume) and skipped.
        case paused = 2
    }

    let client: RedisClient
    let prefix: String
    let historyLimit: Int

    func lastKey(_ job: String) -> String { "\(self.prefix){\(job)}:last" }
    func currentKey(_ job: String) -> String { "\(self.prefix){\(job)}:current" }
    func historyKey(_ job: String) -> String { "\(self.prefix){\(job)}:history" }
    func pausedKey(_ job: String) -> String { "\(self.prefix){\(job)}:paused" }

    /// Claims `tick` if no tick at or after it was claimed before. Call it while holding the job's lock.
    /// - Returns: True when this caller may run the tick.
    func claim(job: String, tick: Date) async throws -> Claim {
        let reply = try await self.client.eval(
            Self.claimScript,
            keys: [self.lastKey(job), self.pausedKey(job)],
            arguments: [tick.epochMilliseconds]
        ).decode(as: Int.self)
        return Claim(rawValue: reply) ?? .taken
    }

    /// Pauses the job on every instance (until ``resume(job:)``), recording who and when.
    func pause(job: String, by: String, at: Date) async throws {
        let json = try Self.encode(JobPause(by: by, at: at))
        _ = try await self.client.send(RedisCommand("SET", key: self.pausedKey(job), json))
    }

    /// Resumes a paused job; false when it was not paused.
    func resume(job: String) async throws -> Bool {
        try await self.client.send(RedisCommand("DEL", key: self.pausedKey(job))).decode(as: Int.self) == 1
    }

    /// The job's pause, if it is paused.
    func pause(job: String) async throws -> JobPause? {
        let value = try await self.client.send(RedisCommand("GET", key: self.pausedKey(job)))
        guard let text = try value.decode(as: String?.self) else { return nil }
        return (try? JSONDecoder().decode(JobPause.self, from: Data(text.utf8)))
            ?? JobPause(by: "", at: Date(timeIntervalSince1970: 0))
    }

    /// The newest claimed tick, if any.
    func lastClaimedTick(job: String) async throws -> Date? {
        let value = try await self.client.send(RedisCommand("GET", key: self.lastKey(job)))
        guard let text = try value.decode(as: String?.self), let milliseconds = Int64(text) else { return nil }
        return Date(epochMilliseconds: milliseconds)
    }

    /// Records that a run started (visible as the job's current run for up to `ttl`).
    func started(_ run: JobRun, ttl: Duration) async throws {
        let json = try Self.encode(run)
        _ = try await self.client.send(
            RedisCommand("SET", key: self.currentKey(run.job), json, "PX", String(max(1, ttl.schedulerMilliseconds)))
        )
    }

    /// Appends a finished run to the history (trimmed) and clears it as the current run.
    func finished(_ run: JobRun) async throws {
        _ = try await self.client.eval(
            Self.finishScript,
            keys: [self.historyKey(run.job), self.currentKey(run.job)],
            arguments: [try Self.encode(run), self.historyLimit, run.runID]
        )
    }

    /// The run in progress, if any.
    func current(job: String) async throws -> JobRun? {
        let value = try await self.client.send(RedisCommand("GET", key: self.currentKey(job)))
        guard let text = try value.decode(as: String?.self) else { return nil }
        return try? JSONDecoder().decode(JobRun.self, from: Data(text.utf8))
    }

    /// The latest runs, newest first.
    func history(job: String, limit: Int) async throws -> [JobRun] {
        guard limit > 0 else { return [] }
        let values = try await self.client.send(
            RedisCommand("LRANGE", key: self.historyKey(job), "0", String(limit - 1))
        ).decode(as: [String].self)
        let decoder = JSONDecoder()
        return values.compactMap { try? decoder.decode(JobRun.self, from: Data($0.utf8)) }
    }

    /// Removes runs that ended before `cutoff` (from the old end of the list).
    /// - Returns: How many were removed.
    func prune(job: String, endedBefore cutoff: Date) async throws -> Int {
        try await self.client.eval(
            Self.pruneScript,
            keys: [self.historyKey(job)],
            arguments: [cutoff.epochMilliseconds]
        ).decode(as: Int.self)
    }

    private static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// KEYS: last, paused. ARGV: tick ms. Sets `last` to the tick unless it is already at or past it; returns 1 to
    /// run it, 0 when it was claimed before, 2 when the job is paused (claimed, so it is not caught up later, and
    /// skipped).
    static let claimScript = RedisScript(
        """
        local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
        if last >= tonumber(ARGV[1]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[1])
        if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
        return 1
        """
    )

    /// KEYS: history, current. ARGV: run JSON, history length, run id.
    static let finishScript = RedisScript(
        """
        redis.call('LPUSH', KEYS[1], ARGV[1])
        redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
        local current = redis.call('GET', KEYS[2])
        if current and cjson.decode(current)['runID'] == ARGV[3] then redis.call('DEL', KEYS[2]) end
        return 1
        """
    )

    /// KEYS: history. ARGV: cutoff ms. Pops runs from the old end while they ended before the cutoff.
    static let pruneScript = RedisScript(
        """
        local removed = 0
        while true do
          local oldest = redis.call('LINDEX', KEYS[1], -1)
          if not oldest then break end
          local ok, run = pcall(cjson.decode, oldest)
          local ended = ok and tonumber(run['endedAt']) or nil
          if ended and ended >= tonumber(ARGV[1]) then break end
          redis.call('RPOP', KEYS[1])
          removed = removed + 1
        end
        return removed
        """
    )
}
