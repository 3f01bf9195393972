#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Time arithmetic of entries: wall-clock expiry (shared by every process), TTL jitter and XFetch.
enum CacheTime {
    /// Unix time in milliseconds. Entries carry wall-clock expiry so every process agrees on it; clock skew
    /// between hosts only moves *when* an entry counts as stale or due for early refresh.
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// `ttl × (1 + u)` with `u` uniform in `[-jitter, +jitter]`, never below 1 ms.
    static func jittered(_ ttl: Duration, by jitter: Double, unit: Double = Double.random(in: -1...1)) -> Duration {
        guard jitter > 0 else { return ttl }
        let milliseconds = Double(ttl.milliseconds) * (1 + jitter * unit)
        return .milliseconds(max(1, Int64(milliseconds.rounded())))
    }

    /// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015):
    /// refresh early when `now - loadTime × β × ln(u) ≥ expiry`, with `u` uniform in (0, 1]. The closer the expiry
    /// and the slower the load, the likelier; across many readers, about one refreshes just before expiry.
    static func shouldRefreshEarly(
        now: Int64,
        expiresAt: Int64,
        loadMilliseconds: Int64,
        beta: Double,
        unit: Double = Double.random(in: Double.leastNonzeroMagnitude...1)
    ) -> Bool {
        guard beta > 0 else { return false }
        let gap = -Double(max(loadMilliseconds, 1)) * beta * log(unit)
        return Double(now) + gap >= Double(expiresAt)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a positive duration never becomes 0.
    var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return Int(remainder > 0 ? milliseconds + 1 : milliseconds)
    }

    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
