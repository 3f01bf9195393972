/// The HTTP latency histogram's buckets: upper bounds in microseconds, roughly 1-2-3-5 per decade from 250 µs to
/// 10 s, then one open bucket. A minute's latencies are stored as counts per bucket (so the figures of every instance
/// and minute add up), and percentiles are read back from the counts.
public enum LatencyBuckets {
    /// The upper bound of each bucket but the last, in microseconds.
    public static let upperBounds: [Int64] = [
        250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 50_000, 75_000, 100_000,
        150_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000,
    ]

    /// How many buckets there are (the bounded ones and the open one).
    public static var count: Int { Self.upperBounds.count + 1 }

    /// The bucket of a latency.
    public static func index(of duration: Duration) -> Int {
        let microseconds = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        return Self.upperBounds.firstIndex { microseconds <= $0 } ?? Self.upperBounds.count
    }

    /// The latency below which a `fraction` (0...1) of the counted requests fall, in milliseconds, interpolated
    /// linearly inside its bucket; nil when nothing was counted. A percentile in the open bucket is reported as its
    /// lower bound (10 s): the histogram knows no more than "above that".
    public static func percentile(_ fraction: Double, of counts: [Int]) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, (fraction * Double(total)).rounded(.up))
        var below = 0
        for (index, count) in counts.enumerated() where count > 0 {
            guard Double(below + count) >= rank else {
                below += count
                continue
            }
            let lower = index == 0 ? 0 : Double(Self.upperBounds[index - 1])
            guard index < Self.upperBounds.count else { return lower / 1_000 }
            let upper = Double(Self.upperBounds[index])
            let within = (rank - Double(below)) / Double(count)
            return (lower + (upper - lower) * within) / 1_000
        }
        return Double(Self.upperBounds.last!) / 1_000
    }
}
