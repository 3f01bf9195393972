/// A failure of the lock library (Redis errors are passed through as `RedisError`).
public struct RedisLockError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable, Hashable {
        case timedOut, leaseLost, notHeld, invalidName
    }

    private let code: Code
    /// The lock's name.
    public let lock: String

    private init(_ code: Code, lock: String) {
        self.code = code
        self.lock = lock
    }

    /// The lock stayed held by someone else for the whole wait.
    public static func timedOut(_ lock: String) -> Self { Self(.timedOut, lock: lock) }
    /// The lease expired or was taken over while the holder still worked: the holder must stop, and its
    /// writes must be rejected by the protected resource (that is what the fencing token is for).
    public static func leaseLost(_ lock: String) -> Self { Self(.leaseLost, lock: lock) }
    /// Release or extend was attempted with a token that no longer holds the lock.
    public static func notHeld(_ lock: String) -> Self { Self(.notHeld, lock: lock) }
    /// The name is empty, too long, or contains `{`, `}` or control characters.
    public static func invalidName(_ lock: String) -> Self { Self(.invalidName, lock: String(lock.prefix(64))) }

    /// True when the lease was lost while the body ran.
    public var isLeaseLost: Bool { self.code == .leaseLost }
    /// True when waiting for the lock timed out.
    public var isTimeout: Bool { self.code == .timedOut }

    public var description: String {
        switch self.code {
        case .timedOut: "lock \"\(self.lock)\" is held by someone else and did not become free in time"
        case .leaseLost: "the lease on lock \"\(self.lock)\" was lost before the work finished"
        case .notHeld: "lock \"\(self.lock)\" is not held with this token"
        case .invalidName: "invalid lock name \"\(self.lock)\""
        }
    }
}
