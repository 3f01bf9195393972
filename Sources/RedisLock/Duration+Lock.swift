extension Duration {
    /// Nanoseconds, clamped to 0...Int64.max (never traps on huge durations).
    var clampedNanoseconds: Int64 {
        if self <= .zero { return 0 }
        if self >= .nanoseconds(Int64.max) { return .max }
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, at least 1, rounded up (a lease is never shortened to 0 = no expiry).
    var leaseMilliseconds: Int {
        let nanoseconds = self.clampedNanoseconds
        return Int(max(1, nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1)))
    }
}
