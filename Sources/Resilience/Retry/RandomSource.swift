import Synchronization

/// Where the jitter of retry delays comes from: the system's generator by default, or any
/// `RandomNumberGenerator` (a seeded one in tests), used under a lock so concurrent calls can share it.
public struct RandomSource: Sendable {
    /// Nil for the system's generator.
    private let locked: (any LockedRandom)?

    /// Wraps a generator; the source owns it from then on.
    /// - Parameter generator: The generator (for example a seeded one, so tests can check the delays).
    public init(_ generator: sending some RandomNumberGenerator) {
        self.locked = LockedGenerator(generator)
    }

    private init() {
        self.locked = nil
    }

    /// The system's cryptographically secure generator (no lock needed).
    public static var system: Self { Self() }

    /// A `RandomNumberGenerator` view of this source.
    var generator: Generator { Generator(source: self) }

    struct Generator: RandomNumberGenerator {
        let source: RandomSource
        private var system = SystemRandomNumberGenerator()

        init(source: RandomSource) {
            self.source = source
        }

        mutating func next() -> UInt64 {
            self.source.locked?.next() ?? self.system.next()
        }
    }
}

private protocol LockedRandom: Sendable {
    func next() -> UInt64
}

private final class LockedGenerator<Generator: RandomNumberGenerator>: LockedRandom {
    private let generator: Mutex<Generator>

    init(_ generator: sending Generator) {
        self.generator = Mutex(generator)
    }

    func next() -> UInt64 {
        self.generator.withLock { $0.next() }
    }
}
