import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// bcrypt hashing and verification, run on NIO's blocking thread pool (`NIOThreadPool.singleton`) so the
/// slow work never occupies a Swift concurrency thread or an event loop; at most one hash per core runs at
/// a time, the rest queue.
public final class PasswordHasher: Sendable {
    /// The cost of new hashes.
    public let cost: Int
    private let dummy = Mutex<String?>(nil)

    /// Creates a hasher.
    /// - Parameter cost: The bcrypt cost of new hashes (4–31).
    public init(cost: Int) {
        precondition((4...31).contains(cost), "bcrypt cost must be 4...31")
        self.cost = cost
    }

    /// Hashes a password.
    /// - Parameter password: The password (at most 72 bytes count).
    public func hash(_ password: String) async throws -> PasswordHash {
        let cost = UInt8(self.cost)
        return PasswordHash(try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) })
    }

    /// Checks a password against a hash, or against a dummy hash of the same cost when there is no user, so
    /// that "no such user" takes as long as "wrong password".
    /// - Parameters:
    ///   - password: The password given.
    ///   - hash: The user's hash, or nil when there is no such user.
    /// - Returns: Whether the password matches (always false without a hash).
    public func verify(_ password: String, against hash: PasswordHash?) async throws -> Bool {
        let target: String
        if let hash {
            target = hash.value
        } else {
            target = try await self.dummyHash()
        }
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: target) }
        return matches && hash != nil
    }

    /// A hash of a random password at the configured cost, made once.
    private func dummyHash() async throws -> String {
        if let hash = self.dummy.withLock({ $0 }) { return hash }
        let secret = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
        let hash = try await NIOThreadPool.singleton.runIfActive { [cost] in Bcrypt.hash(secret, cost: UInt8(cost)) }
        return self.dummy.withLock { stored in
            if let stored { return stored }
            stored = hash
            return hash
        }
    }
}
