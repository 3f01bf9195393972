public import RedisClient

/// A lock held now, as ``RedisLocks/heldLocks(limit:)`` lists it.
public struct HeldLock: Sendable, Equatable, Codable {
    /// The lock's name.
    public var name: String
    /// Who holds it: the owner label of the holder's token (``RedisLockConfiguration/owner``, the instance).
    public var holder: String
    /// How long its lease has left, in milliseconds (nil: no expiry, which the library never sets).
    public var leaseRemainingMilliseconds: Int?
    /// The fencing token of its newest acquisition.
    public var fencingToken: Int64?

    /// Creates an entry.
    public init(name: String, holder: String, leaseRemainingMilliseconds: Int?, fencingToken: Int64?) {
        self.name = name
        self.holder = holder
        self.leaseRemainingMilliseconds = leaseRemainingMilliseconds
        self.fencingToken = fencingToken
    }
}

extension RedisLocks {
    /// The locks held now under this manager's prefix, by name: holder, lease left and fencing token.
    ///
    /// Every primary is scanned (`SCAN MATCH <prefix>{*}`), then one pipeline reads each lock's token, `PTTL` and
    /// fence: for an operator's page, not a hot path. A lock released between the two steps is left out.
    /// - Parameter limit: The most locks to list.
    public func heldLocks(limit: Int = 500) async throws -> [HeldLock] {
        var keys: [String] = []
        try await self.client.scanKeys(matching: RedisGlob.escaping(self.configuration.keyPrefix) + "{*}") { batch in
            keys.append(contentsOf: batch.prefix(max(0, limit - keys.count)))
        }
        let names = Set(
            keys.compactMap { key -> String? in
                let inner = key.dropFirst(self.configuration.keyPrefix.count)
                guard inner.first == "{", inner.last == "}" else { return nil }
                return String(inner.dropFirst().dropLast())
            }
        ).sorted()
        guard !names.isEmpty else { return [] }
        let replies = try await self.client.pipeline(
            names.flatMap { name in
                [
                    RedisCommand("GET", key: self.key(name)), RedisCommand("PTTL", key: self.key(name)),
                    RedisCommand("GET", key: self.fenceKey(name)),
                ]
            }
        )
        var locks: [HeldLock] = []
        for (index, name) in names.enumerated() {
            guard let token = try replies[index * 3].get().decode(as: String?.self) else { continue }
            let ttl = try replies[index * 3 + 1].get().decode(as: Int.self)
            let fence = try replies[index * 3 + 2].get().decode(as: String?.self).flatMap { Int64($0) }
            locks.append(
                HeldLock(
                    name: name,
                    holder: token.lastIndex(of: "/").map { String(token[..<$0]) } ?? token,
                    leaseRemainingMilliseconds: ttl >= 0 ? ttl : nil,
                    fencingToken: fence
                )
            )
        }
        return locks
    }

    /// How many of this instance's tasks wait for each lock now (locks nobody here waits for are left out).
    public func waitingCounts() -> [String: Int] {
        self.waiters.waitingCounts()
    }
}
