import Synchronization

/// Evictions that could not reach Redis, kept until it answers again.
///
/// Every Redis call of the manager applies them first, so a process never reads an entry from Redis that it
/// failed to evict. When more than `limit` entries are waiting, the namespaces involved are marked for a whole
/// eviction (a new epoch) instead, which is coarser but just as correct and takes one command each.
final class DeferredEvictions: Sendable {
    struct Batch: Sendable {
        /// `[entry, lease]` pairs.
        var keys: [[String]]
        /// The generation of each pair when the batch was taken: a pair deferred again meanwhile stays.
        var generations: [UInt64]
        var namespaces: [CacheKeyLayout]
        var namespaceGenerations: [UInt64]

        var isEmpty: Bool { self.keys.isEmpty && self.namespaces.isEmpty }
    }

    private struct Deferred: Sendable {
        var layout: CacheKeyLayout
        var lease: String
        var generation: UInt64
    }

    private struct State: Sendable {
        var keys: [String: Deferred] = [:]
        var namespaces: [CacheKeyLayout: UInt64] = [:]
        var generation: UInt64 = 0
    }

    private let limit: Int
    private let state = Mutex(State())
    private let pending = Atomic<Bool>(false)

    init(limit: Int) {
        self.limit = limit
    }

    /// Whether anything waits (one atomic load: cheap enough for every Redis call).
    var isPending: Bool {
        self.pending.load(ordering: .acquiring)
    }

    var count: Int {
        self.state.withLock { $0.keys.count + $0.namespaces.count }
    }

    func add(keys: [String], namespace: CacheKeyLayout) {
        self.state.withLock { state in
            state.generation &+= 1
            if state.namespaces[namespace] != nil {
                state.namespaces[namespace] = state.generation
                return
            }
            if state.keys.count >= self.limit {
                // Too many: evict whole namespaces instead (the entries waiting for them become redundant).
                state.namespaces[namespace] = state.generation
                state.keys = state.keys.filter { $0.value.layout != namespace }
                return
            }
            state.keys[keys[0]] = Deferred(layout: namespace, lease: keys[1], generation: state.generation)
        }
        self.pending.store(true, ordering: .releasing)
    }

    func add(namespace: CacheKeyLayout) {
        self.state.withLock { state in
            state.generation &+= 1
            state.namespaces[namespace] = state.generation
            state.keys = state.keys.filter { $0.value.layout != namespace }
        }
        self.pending.store(true, ordering: .releasing)
    }

    func snapshot() -> Batch {
        self.state.withLock { state in
            Batch(
                keys: state.keys.map { [$0.key, $0.value.lease] },
                generations: state.keys.map(\.value.generation),
                namespaces: state.namespaces.map(\.key),
                namespaceGenerations: state.namespaces.map(\.value)
            )
        }
    }

    /// Forgets what a successful flush applied (anything added since stays).
    func remove(_ batch: Batch) {
        self.state.withLock { state in
            for (pair, generation) in zip(batch.keys, batch.generations)
            where state.keys[pair[0]]?.generation == generation {
                state.keys[pair[0]] = nil
            }
            for (namespace, generation) in zip(batch.namespaces, batch.namespaceGenerations)
            where state.namespaces[namespace] == generation {
                state.namespaces[namespace] = nil
            }
            self.pending.store(!state.keys.isEmpty || !state.namespaces.isEmpty, ordering: .releasing)
        }
    }
}
