public import Foundation

/// Where a scheduler reads the time of day. Ticks are computed from it; waiting uses `ContinuousClock`
/// for the distance to the next tick and then checks the wall clock again.
///
/// The default is the system clock. Tests (and anyone simulating clock skew between instances) can pass
/// ``OffsetWallClock``.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system's clock.
public struct SystemWallClock: WallClock {
    /// Creates the system clock.
    public init() {}

    /// The current time.
    public func now() -> Date { Date() }
}

/// The system clock moved by a fixed offset: an instance whose clock runs ahead (positive) or behind.
public struct OffsetWallClock: WallClock {
    /// How far this clock is ahead of the system clock (negative: behind).
    public let offset: Duration

    /// Creates a clock `offset` ahead of the system clock.
    /// - Parameter offset: Positive for ahead, negative for behind.
    public init(offset: Duration) {
        self.offset = offset
    }

    /// The system time plus the offset.
    public func now() -> Date {
        Date().addingTimeInterval(Double(self.offset.schedulerMilliseconds) / 1000)
    }
}
