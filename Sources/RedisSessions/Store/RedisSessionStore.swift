public import Logging
import Metrics
import NIOCore
public import RedisClient

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Sessions kept in Redis, shared by every instance of an application.
///
/// - A session is found from its identifier alone, stored under the SHA-256 of the identifier.
/// - Loading is one Lua script (one round trip) that also records the use and slides the idle timeout,
///   at most once per ``RedisSessionConfiguration/touchInterval``; the Redis TTL never outlives the absolute
///   deadline.
/// - Sessions that belong to a user are listed in that user's index (a sorted set by deadline), which makes
///   "list my sessions" and "log out everywhere else" cost one index read plus one pipeline.
/// - Revoking deletes the session key at once: the next request with that identifier, on any instance,
///   finds nothing. The index is cleaned lazily, and listings skip entries whose session is gone.
///
/// The store has no state of its own besides its configuration; create one per application and share it.
///
/// ```swift
/// let store = try RedisSessionStore<MyValue>(redis: redis, configuration: .init(keyPrefix: "app:"))
/// let session = try await store.create(value, userID: "42", client: client, replacing: previous)
/// let loaded = try await store.load(session.id)           // nil once expired or revoked
/// try await store.revoke(session)
/// ```
public struct RedisSessionStore<Value: Codable & Sendable>: Sendable {
    /// The Redis client used for every command.
    public let redis: RedisClient
    /// Key prefix and timeouts.
    public let configuration: RedisSessionConfiguration
    let lifetime: SessionLifetime
    let keys: SessionKeys
    let logger: Logger
    let now: @Sendable () -> Date
    let codec: SessionValueCodec<Value>
    let metrics: SessionMetrics

    /// Creates a store.
    /// - Parameters:
    ///   - redis: The client (run it as a service in your `ServiceGroup`).
    ///   - configuration: Key prefix and timeouts.
    ///   - logger: Where problems are logged (never with a session identifier).
    ///   - codec: How values are stored (default JSON).
    ///   - now: The clock, for the timestamps and the absolute deadline (tests may inject one). Redis expires
    ///     keys on its own clock, relative to when the TTL was set.
    /// - Throws: ``SessionStoreError`` when the configuration is invalid.
    public init(
        redis: RedisClient,
        configuration: RedisSessionConfiguration = RedisSessionConfiguration(),
        logger: Logger = Logger(label: "redis-sessions"),
        codec: SessionValueCodec<Value> = .json,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(SessionStoreError) {
        try configuration.validate()
        self.redis = redis
        self.configuration = configuration
        self.lifetime = SessionLifetime(configuration)
        self.keys = SessionKeys(prefix: configuration.keyPrefix)
        self.logger = logger
        self.now = now
        self.codec = codec
        self.metrics = SessionMetrics()
    }

    // MARK: - Create, load, update

    /// Creates a session with a new identifier, optionally replacing (deleting) the one the client had.
    ///
    /// Pass the client's current session as `previous` on login and on any change of privilege: the old
    /// identifier stops working in the same round trip (fixation protection). A new session gets a new
    /// absolute lifetime; use ``rotate(_:value:)`` to keep the old one.
    /// - Parameters:
    ///   - value: The application's data.
    ///   - userID: The owner (indexed for listing and revoking), or nil for an anonymous session.
    ///   - client: User agent and address, for listings.
    ///   - previous: A session to delete at the same time, if any.
    /// - Returns: The new session; send ``Session/id`` to the client.
    public func create(
        _ value: Value,
        userID: String?,
        client: SessionClient,
        replacing previous: Session<Value>? = nil
    ) async throws -> Session<Value> {
        let now = self.nowMilliseconds()
        return try await self.insert(
            value,
            userID: userID,
            client: client,
            createdAt: now,
            deadline: self.lifetime.deadline(createdAt: now),
            replacing: previous
        )
    }

    /// Gives a session a new identifier and deletes the old one, keeping its creation time and absolute
    /// deadline (use it when privileges change within a session).
    ///
    /// The old session is deleted first, and the new one is created only if that deletion found it: a session
    /// revoked (or expired) after the caller loaded it is not brought back under a new identifier. If creating
    /// the new one then fails, neither exists (the client must sign in again).
    /// - Parameters:
    ///   - session: The current session.
    ///   - value: A new value, or nil to keep it.
    /// - Returns: The session under its new identifier, or nil when the old one had already ended.
    public func rotate(_ session: Session<Value>, value: Value? = nil) async throws -> Session<Value>? {
        let now = self.nowMilliseconds()
        let deadline = Self.milliseconds(session.expiresAt)
        guard self.lifetime.ttl(now: now, deadline: deadline) != nil else {
            try await self.revoke(session)
            return nil
        }
        let previousHash = session.id.storageHash
        var calls: [PipelinedCall] = [.command(RedisCommand("DEL", key: self.keys.session(hash: previousHash)))]
        if let previousUser = session.userID {
            calls.append(.command(RedisCommand("ZREM", key: try Self.checked(previousUser, self.keys), previousHash)))
        }
        if let announce = self.announcement([previousHash]) { calls.append(.command(announce)) }
        let results = try await self.redis.pipelineWithScripts(calls)
        try Self.check(results)
        // 0: someone else ended it after it was loaded (its end was announced then).
        guard try results[0].get().decode(as: Int.self) == 1 else { return nil }
        self.metrics.revoked.increment()
        var rotated = try await self.insert(
            value ?? session.value,
            userID: session.userID,
            client: session.client,
            createdAt: Self.milliseconds(session.createdAt),
            deadline: deadline,
            replacing: nil
        )
        rotated.lastSeenAt = Self.date(now)
        return rotated
    }

    /// Loads a session and records the use (one Lua script).
    /// - Parameter id: The identifier the client sent.
    /// - Returns: The session, or nil when it does not exist, was revoked, or has expired.
    public func load(_ id: SessionID) async throws -> Session<Value>? {
        let key = self.keys.session(hash: id.storageHash)
        let reply = try await self.runLoad(key: key, now: self.nowMilliseconds())
        guard case .array(let fields) = reply, fields.count == 7 else {
            self.metrics.miss.increment()
            return nil
        }
        do {
            let session = try self.decodeSession(id: id, fields: fields)
            self.metrics.hit.increment()
            return session
        } catch {
            // Unreadable data (another writer, or an incompatible change of `Value`): the session is unusable,
            // so it is removed and treated as missing. The log names neither the id nor the key.
            self.logger.error("unreadable session removed", metadata: ["error": "\(error)"])
            _ = try? await self.redis.delete(key)
            self.metrics.miss.increment()
            return nil
        }
    }

    /// Replaces the value of a live session, keeping its identifier and TTL.
    ///
    /// Do not use it for changes of privilege; use ``rotate(_:value:)`` so the identifier changes too.
    /// - Parameters:
    ///   - session: The session.
    ///   - value: The new value.
    /// - Returns: Whether the session still existed (a revoked session is not brought back).
    @discardableResult
    public func update(_ session: Session<Value>, value: Value) async throws -> Bool {
        let reply = try await self.redis.eval(
            SessionScripts.update,
            keys: [self.keys.session(hash: session.id.storageHash)],
            arguments: [try self.encode(value)]
        )
        return try reply.decode(as: Int.self) == 1
    }

    /// Whether the session with this identifier is live, without recording a use (one `EXISTS`).
    ///
    /// For holders of long-lived connections (a notification stream) that must notice a session ending by
    /// expiry, which is not announced on ``RedisSessionConfiguration/revocationChannel``.
    /// - Parameter id: The identifier.
    public func exists(_ id: SessionID) async throws -> Bool {
        try await self.redis.send(RedisCommand("EXISTS", key: self.keys.session(hash: id.storageHash)))
            .decode(as: Int.self) == 1
    }

    /// Of these sessions (by ``SessionID/storageHash``), the ones that no longer exist: one `EXISTS` per distinct
    /// hash, all in one pipeline (one round trip), none of them touched (no expiry is extended).
    /// - Parameter storageHashes: Storage hashes, as revocation announcements carry them.
    /// - Returns: The hashes whose session is gone, each once.
    public func endedSessions(storageHashes: some Sequence<String>) async throws -> [String] {
        var seen = Set<String>()
        let hashes = storageHashes.filter { seen.insert($0).inserted }
        let replies = try await self.redis.pipeline(
            hashes.map { RedisCommand("EXISTS", key: self.keys.session(hash: $0)) }
        )
        try Self.check(replies)
        return try zip(hashes, replies).compactMap { hash, reply in
            try reply.get().decode(as: Int.self) == 0 ? hash : nil
        }
    }

    // MARK: - Revoke and list

    /// Ends a session at once: its key is deleted and it leaves its user's index (one pipeline).
    /// - Parameter session: The session.
    public func revoke(_ session: Session<Value>) async throws {
        let hash = session.id.storageHash
        var commands = [RedisCommand("DEL", key: self.keys.session(hash: hash))]
        if let userID = session.userID {
            commands.append(RedisCommand("ZREM", key: self.keys.index(userID: userID), hash))
        }
        if let announce = self.announcement([hash]) { commands.append(announce) }
        try Self.check(try await self.redis.pipeline(commands))
        self.metrics.revoked.increment()
    }

    /// Ends the session with this identifier, whoever it belongs to.
    /// - Parameter id: The identifier.
    public func revoke(id: SessionID) async throws {
        let hash = id.storageHash
        let userID = try await self.redis.eval(SessionScripts.delete, keys: [self.keys.session(hash: hash)])
            .decode(as: String.self)
        var commands: [RedisCommand] = []
        if !userID.isEmpty { commands.append(RedisCommand("ZREM", key: self.keys.index(userID: userID), hash)) }
        if let announce = self.announcement([hash]) { commands.append(announce) }
        if !commands.isEmpty { try Self.check(try await self.redis.pipeline(commands)) }
        self.metrics.revoked.increment()
    }

    /// Ends one of a user's sessions, named by its public handle.
    ///
    /// Only the user's own index is searched, so a handle of someone else's session is not found.
    /// - Parameters:
    ///   - handle: The handle from ``sessions(userID:)``.
    ///   - userID: The user whose session it must be.
    /// - Returns: Whether a live session was ended.
    public func revoke(handle: String, userID: String) async throws -> Bool {
        guard SessionID.isValidHandle(handle) else { return false }
        let index = try Self.checked(userID, self.keys)
        let members = try await self.indexMembers(index)
        guard let hash = members.first(where: { $0.hasPrefix(handle) }) else { return false }
        var commands = [
            RedisCommand("DEL", key: self.keys.session(hash: hash)), RedisCommand("ZREM", key: index, hash),
        ]
        if let announce = self.announcement([hash]) { commands.append(announce) }
        let results = try await self.redis.pipeline(commands)
        try Self.check(results)
        let deleted = try results[0].get().decode(as: Int.self) == 1
        if deleted { self.metrics.revoked.increment() }
        return deleted
    }

    /// Ends every session of a user, except `keeping` ("log out everywhere else"); with `keeping` nil, all
    /// of them (after a password or role change).
    /// - Parameters:
    ///   - userID: The user.
    ///   - keeping: A session to leave alone, usually the current one.
    /// - Returns: How many live sessions were ended.
    @discardableResult
    public func revokeAll(userID: String, keeping: SessionID? = nil) async throws -> Int {
        let index = try Self.checked(userID, self.keys)
        let keep = keeping?.storageHash
        let members = try await self.indexMembers(index).filter { $0 != keep }
        guard !members.isEmpty else { return 0 }
        var commands = members.map { RedisCommand("DEL", key: self.keys.session(hash: $0)) }
        var remove = RedisCommand("ZREM", capacity: 32 + members.count * 70)
        remove.appendKey(index)
        remove.append(contentsOf: members)
        commands.append(remove)
        if let announce = self.announcement(members) { commands.append(announce) }
        let results = try await self.redis.pipeline(commands)
        try Self.check(results)
        var ended = 0
        for result in results.prefix(members.count) {
            if try result.get().decode(as: Int.self) == 1 { ended += 1 }
        }
        self.metrics.revoked.increment(by: ended)
        return ended
    }

    /// How many sessions exist now, of every user (sessions past their idle timeout or lifetime have expired in
    /// Redis and are not counted).
    ///
    /// Every primary is scanned (`SCAN MATCH <prefix>session:{*}`), so the cost grows with the number of keys in
    /// Redis: for an operator's page, not for a request path.
    public func countSessions() async throws -> Int {
        var count = 0
        try await self.redis.scanKeys(matching: RedisGlob.escaping(self.keys.prefix) + "session:{*}") {
            count += $0.count
        }
        return count
    }

    /// A user's live sessions, newest first, without identifiers or values.
    ///
    /// Entries whose session has ended (idle timeout, revoked) are skipped and removed from the index.
    /// - Parameter userID: The user.
    /// - Returns: The sessions.
    public func sessions(userID: String) async throws -> [SessionInfo] {
        let index = try Self.checked(userID, self.keys)
        let members = try await self.indexMembers(index)
        guard !members.isEmpty else { return [] }
        let results = try await self.redis.pipeline(
            members.map { hash in
                RedisCommand("HMGET", key: self.keys.session(hash: hash), "c", "s", "d", "a", "i")
            }
        )
        var sessions: [SessionInfo] = []
        var gone: [String] = []
        let now = self.nowMilliseconds()
        for (hash, result) in zip(members, results) {
            let fields = try result.get().decode(as: [String?].self)
            guard fields.count == 5, let created = fields[0].flatMap({ Int64($0) }),
                let seen = fields[1].flatMap({ Int64($0) }), let deadline = fields[2].flatMap({ Int64($0) }),
                deadline > now
            else {
                gone.append(hash)
                continue
            }
            sessions.append(
                SessionInfo(
                    handle: SessionID.handle(forStorageHash: hash),
                    createdAt: Self.date(created),
                    lastSeenAt: Self.date(seen),
                    expiresAt: Self.date(deadline),
                    client: SessionClient(userAgent: fields[3] ?? "", address: fields[4] ?? "")
                )
            )
        }
        if !gone.isEmpty {
            var remove = RedisCommand("ZREM")
            remove.appendKey(index)
            remove.append(contentsOf: gone)
            _ = try await self.redis.send(remove)
        }
        return sessions.sorted { ($0.createdAt, $0.handle) > ($1.createdAt, $1.handle) }
    }

    /// Removes the entries of a user's index whose session has ended (idle timeout, absolute lifetime, or a
    /// session key that is gone), for cleanup jobs: listings skip and drop such entries too, but only for users
    /// who look. One script and one pipeline; the index key itself expires with its newest session.
    /// - Parameter userID: The user.
    /// - Returns: How many entries were removed because their session key was gone (entries past their
    ///   deadline are dropped as well, uncounted).
    @discardableResult
    public func pruneIndex(userID: String) async throws -> Int {
        let index = try Self.checked(userID, self.keys)
        let members = try await self.indexMembers(index)
        guard !members.isEmpty else { return 0 }
        let results = try await self.redis.pipeline(
            members.map { RedisCommand("EXISTS", key: self.keys.session(hash: $0)) }
        )
        var gone: [String] = []
        for (hash, result) in zip(members, results) where try result.get().decode(as: Int.self) == 0 {
            gone.append(hash)
        }
        guard !gone.isEmpty else { return 0 }
        var remove = RedisCommand("ZREM")
        remove.appendKey(index)
        remove.append(contentsOf: gone)
        return try await self.redis.send(remove).decode(as: Int.self)
    }

    // MARK: - Internals

    /// `PUBLISH <revocationChannel> <hashes>`, sent after the deletions in the same pipeline; nil without a channel.
    private func announcement(_ hashes: [String]) -> RedisCommand? {
        guard let channel = self.configuration.revocationChannel, !hashes.isEmpty else { return nil }
        return RedisCommand("PUBLISH", channel, SessionRevocations.message(hashes))
    }

    private func insert(
        _ value: Value,
        userID: String?,
        client: SessionClient,
        createdAt: Int64,
        deadline: Int64,
        replacing previous: Session<Value>?
    ) async throws -> Session<Value> {
        let index = try userID.map { try Self.checked($0, self.keys) }
        let encoded = try self.encode(value)
        let now = self.nowMilliseconds()
        guard let ttl = self.lifetime.ttl(now: now, deadline: deadline) else {
            throw SessionStoreError.invalidConfiguration("the session's absolute deadline has passed")
        }
        while true {
            let id = SessionID.random()
            let hash = id.storageHash
            var calls: [PipelinedCall] = [
                .script(
                    SessionScripts.create,
                    keys: [self.keys.session(hash: hash)],
                    arguments: [
                        encoded, userID ?? "", createdAt, deadline, client.userAgent, client.address, ttl,
                    ]
                )
            ]
            if let index {
                calls.append(.script(SessionScripts.indexAdd, keys: [index], arguments: [hash, deadline, now]))
            }
            if let previous {
                let previousHash = previous.id.storageHash
                calls.append(.command(RedisCommand("DEL", key: self.keys.session(hash: previousHash))))
                if let previousUser = previous.userID {
                    let previousIndex = try Self.checked(previousUser, self.keys)
                    calls.append(.command(RedisCommand("ZREM", key: previousIndex, previousHash)))
                }
                if let announce = self.announcement([previousHash]) { calls.append(.command(announce)) }
            }
            let results = try await self.redis.pipelineWithScripts(calls)
            try Self.check(results)
            // 0: a session with this hash exists already. With 256 random bits this does not happen; if it
            // ever does, the index entry points at the existing session's key, which is harmless, and a fresh
            // identifier is drawn.
            guard try results[0].get().decode(as: Int.self) == 1 else { continue }
            self.metrics.created.increment()
            if previous != nil { self.metrics.revoked.increment() }
            return Session(
                id: id,
                value: value,
                userID: userID,
                createdAt: Self.date(createdAt),
                lastSeenAt: Self.date(createdAt),
                expiresAt: Self.date(deadline),
                client: client
            )
        }
    }

    /// The load script, built without intermediate arrays (it runs on every request with a session).
    private func runLoad(key: String, now: Int64) async throws -> RESPValue {
        func command(_ name: String, _ body: String) -> RedisCommand {
            var command = RedisCommand(name, capacity: 96 + key.utf8.count + body.utf8.count)
            command.append(body)
            command.append(1)
            command.appendKey(key)
            command.append(Int(now))
            command.append(Int(self.lifetime.idleMilliseconds))
            command.append(Int(self.lifetime.touchMilliseconds))
            return command
        }
        do {
            return try await self.redis.send(command("EVALSHA", SessionScripts.load.sha1))
        } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
            return try await self.redis.send(command("EVAL", SessionScripts.load.source))
        }
    }

    private func indexMembers(_ index: String) async throws -> [String] {
        try await self.redis.eval(SessionScripts.indexList, keys: [index], arguments: [self.nowMilliseconds()])
            .decode(as: [String].self)
    }

    private func decodeSession(id: SessionID, fields: [RESPValue]) throws -> Session<Value> {
        guard case .blobString(let data) = fields[0] else { throw SessionDecodingError("value is not a string") }
        let user = try fields[1].decode(as: String?.self) ?? ""
        guard let created = Self.integer(fields[2]), let seen = Self.integer(fields[3]),
            let deadline = Self.integer(fields[4])
        else { throw SessionDecodingError("timestamps are not integers") }
        let value = try data.withUnsafeReadableBytes { try self.codec.decode($0) }
        return Session(
            id: id,
            value: value,
            userID: user.isEmpty ? nil : user,
            createdAt: Self.date(created),
            lastSeenAt: Self.date(seen),
            expiresAt: Self.date(deadline),
            client: SessionClient(
                userAgent: try fields[5].decode(as: String?.self) ?? "",
                address: try fields[6].decode(as: String?.self) ?? ""
            )
        )
    }

    /// A non-negative decimal integer held in a bulk string, read without making a `String`.
    static func integer(_ value: RESPValue) -> Int64? {
        guard case .blobString(let bytes) = value, (1...18).contains(bytes.readableBytes) else { return nil }
        var result: Int64 = 0
        for byte in bytes.readableBytesView {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            result = result * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return result
    }

    private func encode(_ value: Value) throws(SessionStoreError) -> String {
        do {
            return try self.codec.encode(value)
        } catch {
            throw SessionStoreError(.encodingFailed, "the session value cannot be encoded: \(type(of: error))")
        }
    }

    private func nowMilliseconds() -> Int64 {
        Self.milliseconds(self.now())
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The index key of `userID`, after checking that the id can be part of a key.
    private static func checked(_ userID: String, _ keys: SessionKeys) throws(SessionStoreError) -> String {
        guard !userID.isEmpty, userID.utf8.count <= 128, !userID.contains("{"), !userID.contains("}") else {
            throw SessionStoreError(.invalidUserID, "a user id must be 1-128 bytes without { or }")
        }
        return keys.index(userID: userID)
    }

    /// Throws the first error reply of a pipeline.
    private static func check(_ results: [Result<RESPValue, RedisError>]) throws {
        for result in results {
            if case .failure(let error) = result { throw error }
        }
    }
}

struct SessionDecodingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Counters of the session store (swift-metrics).
struct SessionMetrics: Sendable {
    let created = Counter(label: "sessions_created_total")
    let revoked = Counter(label: "sessions_revoked_total")
    let hit = Counter(label: "session_loads_total", dimensions: [("result", "found")])
    let miss = Counter(label: "session_loads_total", dimensions: [("result", "missing")])
}
