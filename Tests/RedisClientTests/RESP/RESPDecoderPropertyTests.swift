import NIOCore
import RedisClient
import Testing

/// Property tests: random value trees round-trip through encode → split reads → decode, and random or mutated
/// bytes never crash the decoder (it returns values, asks for more, or throws — nothing else).
/// Seeds are fixed so a failure reproduces; each test runs a bounded number of iterations.
@Suite struct RESPDecoderPropertyTests {
    @Test(arguments: [1, 2, 3, 4])
    func randomValuesRoundTripThroughRandomSplits(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<1_500 {
            let values = (0..<Int.random(in: 1...4, using: &rng)).map { _ in RESPValueGenerator.value(using: &rng) }
            var wire = ByteBuffer()
            for value in values { RESPTestEncoder.encode(value, into: &wire) }
            let bytes = Array(wire.readableBytesView)

            var decoder = RESPDecoder()
            var buffer = ByteBuffer()
            var decoded: [RESPValue] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + Int.random(in: 1...64, using: &rng))
                buffer.writeBytes(bytes[offset..<end])
                offset = end
                while let value = try decoder.decode(from: &buffer) { decoded.append(value) }
            }
            #expect(decoded == values)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test(arguments: [11, 12, 13])
    func randomBytesNeverCrash(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let alphabet = Array("+-:$*%~|>_,#!=(;.?\r\n0123456789-abcdefinx".utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<64, using: &rng)
            let bytes: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            self.feed(
                bytes,
                limits: RESPDecoder.Limits(
                    maxDepth: 8,
                    maxBulkLength: 1 << 16,
                    maxAggregateLength: 1 << 12,
                    maxLineLength: 256
                ),
                rng: &rng
            )
        }
    }

    @Test(arguments: [21, 22, 23])
    func mutatedValidFramesNeverCrash(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<5_000 {
            var bytes = Array(RESPTestEncoder.bytes(RESPValueGenerator.value(using: &rng)).readableBytesView)
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: index)
                default: bytes[index] = Array("*$%:-\r\n9".utf8).randomElement(using: &rng)!
                }
            }
            self.feed(
                bytes,
                limits: RESPDecoder.Limits(
                    maxDepth: 16,
                    maxBulkLength: 1 << 20,
                    maxAggregateLength: 1 << 16,
                    maxLineLength: 1024
                ),
                rng: &rng
            )
        }
    }

    /// Feeds bytes in random pieces until the decoder throws or runs out of input; no outcome but a crash fails.
    private func feed(_ bytes: [UInt8], limits: RESPDecoder.Limits, rng: inout SeededGenerator) {
        var decoder = RESPDecoder(limits: limits)
        var buffer = ByteBuffer()
        var offset = 0
        do {
            while offset < bytes.count {
                let end = min(bytes.count, offset + Int.random(in: 1...16, using: &rng))
                buffer.writeBytes(bytes[offset..<end])
                offset = end
                while try decoder.decode(from: &buffer) != nil {}
            }
        } catch {
            // A clean error is a correct outcome for malformed bytes.
        }
    }
}
