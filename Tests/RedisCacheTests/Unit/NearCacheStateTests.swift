import Testing

@testable import RedisCache

@Suite("Near cache state machine")
struct NearCacheStateTests {
    typealias State = NearCacheState<String>

    let start = ContinuousClock.now
    let later: Duration = .seconds(3600)

    func at(_ milliseconds: Int) -> ContinuousClock.Instant {
        self.start.advanced(by: .milliseconds(milliseconds))
    }

    func state(entries: Int = 100, bytes: Int = 1 << 20, staleness: Duration = .seconds(1)) -> State {
        var state = State(limits: .init(maxEntries: entries, maxBytes: bytes, staleness: staleness))
        state.proved(sentAt: self.start, channel: state.channel)
        return state
    }

    /// Reads `key` from "Redis" and keeps it, as the owner would on a miss.
    func fill(_ state: inout State, _ key: String, _ value: String, bytes: Int = 1, now: Int = 0) -> Bool {
        let ticket = state.beginFill(key)
        return self.complete(&state, ticket, value, bytes: bytes, now: now)
    }

    /// Ends a read begun with `ticket` with a value that stays fresh for the whole test.
    func complete(_ state: inout State, _ ticket: State.FillTicket, _ value: String, bytes: Int = 1, now: Int) -> Bool {
        state.completeFill(ticket, value: value, bytes: bytes, expiresAt: self.at(0) + self.later, now: self.at(now))
    }

    @Test("nothing is served or kept before the first proof comes back")
    func unprovenServesNothing() {
        var state = State(limits: .init(maxEntries: 10, maxBytes: 100, staleness: .seconds(1)))
        let result1 = state.lookup("a", now: self.start)
        #expect(result1 == .unproven)
        let result2 = self.fill(&state, "a", "1")
        #expect(!result2)
        #expect(state.count == 0)
        state.proved(sentAt: self.start, channel: state.channel)
        let result3 = state.lookup("a", now: self.start)
        #expect(result3 == .miss)
        let result4 = self.fill(&state, "a", "1")
        #expect(result4)
        let result5 = state.lookup("a", now: self.at(10))
        #expect(result5 == .hit("1"))
    }

    @Test("values are served until the last proof's send time plus the staleness bound, then everything is dropped")
    func proofLapses() {
        var state = self.state(staleness: .seconds(1))
        let result6 = self.fill(&state, "a", "1")
        #expect(result6)
        let result7 = state.lookup("a", now: self.at(999))
        #expect(result7 == .hit("1"))
        let result8 = state.lookup("a", now: self.at(1000))
        #expect(result8 == .unproven)
        #expect(state.count == 0)
        #expect(state.counts.flushes == 1)
        // A proof that comes back late counts from when it was sent, not from when it arrived.
        state.proved(sentAt: self.at(500), channel: state.channel)
        #expect(!state.isProven(at: self.at(1500)))
        state.proved(sentAt: self.at(1200), channel: state.channel)
        #expect(state.isProven(at: self.at(2100)))
        // An older proof arriving after a newer one does not shorten the bound.
        state.proved(sentAt: self.at(1100), channel: state.channel)
        #expect(state.isProven(at: self.at(2150)))
    }

    @Test("an invalidation drops the key and spoils a read of it in progress; a read begun after it is kept")
    func invalidationDuringAFill() {
        var state = self.state()
        let result9 = self.fill(&state, "a", "old")
        #expect(result9)
        let racing = state.beginFill("b")
        let racingToo = state.beginFill("b")
        state.invalidate(["a", "b"])
        let result10 = state.lookup("a", now: self.at(1))
        #expect(result10 == .miss)
        #expect(state.counts.invalidations == 1)
        // Both reads of b were in flight when b changed: whatever they read may be from before the write.
        let result11 = self.complete(&state, racing, "old", now: 2)
        #expect(!result11)
        let fresh = state.beginFill("b")
        let result12 = self.complete(&state, racingToo, "old", now: 3)
        #expect(!result12)
        // This read started after the invalidation went by, so it read the new value.
        let result13 = self.complete(&state, fresh, "new", now: 4)
        #expect(result13)
        let result14 = state.lookup("b", now: self.at(5))
        #expect(result14 == .hit("new"))
        #expect(state.counts.discardedFills == 2)
    }

    @Test("a fill of another key is not spoiled by an invalidation")
    func invalidationIsPerKey() {
        var state = self.state()
        let ticket = state.beginFill("a")
        state.invalidate(["b"])
        let result15 = self.complete(&state, ticket, "1", now: 1)
        #expect(result15)
    }

    @Test("least recently used entries leave first when the entry bound is reached")
    func entryBound() {
        var state = self.state(entries: 2)
        let result16 = self.fill(&state, "a", "1")
        #expect(result16)
        let result17 = self.fill(&state, "b", "2")
        #expect(result17)
        let result18 = state.lookup("a", now: self.at(1))
        #expect(result18 == .hit("1"))
        let result19 = self.fill(&state, "c", "3")
        #expect(result19)
        #expect(state.count == 2)
        let result20 = state.lookup("b", now: self.at(2))
        #expect(result20 == .miss)
        let result21 = state.lookup("a", now: self.at(3))
        #expect(result21 == .hit("1"))
        let result22 = state.lookup("c", now: self.at(4))
        #expect(result22 == .hit("3"))
        #expect(state.counts.evictions == 1)
    }

    @Test("the byte bound holds; a value larger than the bound is not kept")
    func byteBound() {
        var state = self.state(bytes: 10)
        let result23 = self.fill(&state, "a", "1", bytes: 4)
        #expect(result23)
        let result24 = self.fill(&state, "b", "2", bytes: 4)
        #expect(result24)
        let result25 = self.fill(&state, "c", "3", bytes: 4)
        #expect(result25)
        #expect(state.bytes == 8)
        let result26 = state.lookup("a", now: self.at(1))
        #expect(result26 == .miss)
        let result27 = self.fill(&state, "d", "4", bytes: 11)
        #expect(!result27)
        #expect(state.bytes == 8)
        // Replacing a key's value counts its bytes once.
        let result28 = self.fill(&state, "b", "2+", bytes: 6)
        #expect(result28)
        #expect(state.bytes == 10)
        #expect(state.count == 2)
    }

    @Test("an entry past its expiry is a miss and leaves")
    func expiry() {
        var state = self.state()
        let ticket = state.beginFill("a")
        let result29 = state.completeFill(ticket, value: "1", bytes: 3, expiresAt: self.at(100), now: self.at(0))
        #expect(result29)
        let result30 = state.lookup("a", now: self.at(99))
        #expect(result30 == .hit("1"))
        let result31 = state.lookup("a", now: self.at(100))
        #expect(result31 == .miss)
        #expect(state.count == 0)
        #expect(state.bytes == 0)
    }

    @Test("losing the channel drops everything, spoils reads in progress, and needs a new proof")
    func channelLost() {
        var state = self.state()
        let result32 = self.fill(&state, "a", "1")
        #expect(result32)
        let inFlight = state.beginFill("b")
        state.channelLost()
        #expect(state.count == 0)
        let result33 = state.lookup("a", now: self.at(1))
        #expect(result33 == .unproven)
        state.proved(sentAt: self.at(2), channel: state.channel)
        let result34 = self.complete(&state, inFlight, "2", now: 3)
        #expect(!result34)
        let result35 = state.lookup("b", now: self.at(4))
        #expect(result35 == .miss)
    }

    @Test("a read begun after the channel was lost is not kept, even once the new channel is proven")
    func readBegunWhileTheChannelWasDown() {
        var state = self.state()
        state.channelLost()
        // This read may return a value whose change the new channel, not yet listening, never reports.
        let blind = state.beginFill("a")
        state.proved(sentAt: self.at(5), channel: state.channel)
        let keptBlind = self.complete(&state, blind, "maybe old", now: 6)
        #expect(!keptBlind)
        // A read begun once the new channel is proven is kept.
        let seen = state.beginFill("a")
        let keptSeen = self.complete(&state, seen, "new", now: 7)
        #expect(keptSeen)
    }

    @Test("a proof sent on a channel that was lost since does not make the new one proven")
    func proofOfAnEarlierChannel() {
        var state = self.state()
        let earlier = state.channel
        state.channelLost()
        state.proved(sentAt: self.at(10), channel: earlier)
        #expect(!state.isProven(at: self.at(11)))
        state.proved(sentAt: self.at(12), channel: state.channel)
        #expect(state.isProven(at: self.at(13)))
    }

    @Test("the recency list survives many inserts, touches and removals in any order")
    func recencyListStaysConsistent() {
        var state = self.state(entries: 8, staleness: .seconds(3600))
        // A seeded linear congruential sequence, so a failure can be replayed from the seed it prints.
        let seed = UInt64.random(in: 1...UInt64.max)
        var sequence = seed
        func next(_ bound: UInt64) -> Int {
            sequence = sequence &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((sequence >> 33) % bound)
        }
        var lastUse: [String: Int] = [:]
        for step in 0..<5_000 {
            let key = "k\(next(20))"
            switch next(3) {
            case 0:
                if self.fill(&state, key, key, now: step) { lastUse[key] = step }
            case 1:
                if state.lookup(key, now: self.at(step)) == .hit(key) { lastUse[key] = step }
            default:
                state.invalidate([key])
                lastUse[key] = nil
            }
            #expect(state.count <= 8, "seed \(seed)")
            #expect(state.count == state.bytes, "seed \(seed)")
        }
        // What is kept is exactly the most recently used keys the model kept.
        let kept = lastUse.filter { key, _ in
            var probe = state
            return probe.lookup(key, now: self.at(5_000)) == .hit(key)
        }
        #expect(kept.count == state.count, "seed \(seed)")
        let newest = lastUse.sorted { $0.value > $1.value }.prefix(state.count).map(\.key)
        #expect(Set(kept.keys) == Set(newest), "seed \(seed)")
    }
}
