import NIOCore
import RedisClient

/// Encodes any RESPValue the way a RESP3 server would, so tests can round-trip values through the decoder.
enum RESPTestEncoder {
    static func encode(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let bytes): line("+", bytes, &buffer)
        case .simpleError(let bytes): line("-", bytes, &buffer)
        case .blobString(let bytes): bulk("$", bytes, &buffer)
        case .blobError(let bytes): bulk("!", bytes, &buffer)
        case .number(let number): buffer.writeString(":\(number)\r\n")
        case .double(let double):
            if double.isNaN {
                buffer.writeString(",nan\r\n")
            } else if double.isInfinite {
                buffer.writeString(double > 0 ? ",inf\r\n" : ",-inf\r\n")
            } else {
                buffer.writeString(",\(double)\r\n")
            }
        case .null: buffer.writeString("_\r\n")
        case .boolean(let flag): buffer.writeString(flag ? "#t\r\n" : "#f\r\n")
        case .verbatimString(let format, let text):
            buffer.writeString("=\(text.readableBytes + 4)\r\n\(format):")
            buffer.writeImmutableBuffer(text)
            buffer.writeString("\r\n")
        case .bigNumber(let digits): buffer.writeString("(\(digits)\r\n")
        case .array(let elements): aggregate("*", elements, &buffer)
        case .set(let elements): aggregate("~", elements, &buffer)
        case .push(let elements): aggregate(">", elements, &buffer)
        case .map(let entries):
            buffer.writeString("%\(entries.count)\r\n")
            for entry in entries {
                encode(entry.key, into: &buffer)
                encode(entry.value, into: &buffer)
            }
        }
    }

    static func bytes(_ value: RESPValue) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(value, into: &buffer)
        return buffer
    }

    private static func line(_ type: String, _ bytes: ByteBuffer, _ buffer: inout ByteBuffer) {
        buffer.writeString(type)
        buffer.writeImmutableBuffer(bytes)
        buffer.writeString("\r\n")
    }

    private static func bulk(_ type: String, _ bytes: ByteBuffer, _ buffer: inout ByteBuffer) {
        buffer.writeString("\(type)\(bytes.readableBytes)\r\n")
        buffer.writeImmutableBuffer(bytes)
        buffer.writeString("\r\n")
    }

    private static func aggregate(_ type: String, _ elements: [RESPValue], _ buffer: inout ByteBuffer) {
        buffer.writeString("\(type)\(elements.count)\r\n")
        for element in elements { encode(element, into: &buffer) }
    }
}

/// A small deterministic random generator (SplitMix64) so property tests are reproducible from a seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum RESPValueGenerator {
    /// A random value tree; pushes only at the top level (as the protocol requires).
    static func value(depth: Int = 0, topLevel: Bool = true, using rng: inout SeededGenerator) -> RESPValue {
        let scalarKinds = 10
        let kinds = depth >= 4 ? scalarKinds : scalarKinds + (topLevel ? 5 : 4)
        switch Int.random(in: 0..<kinds, using: &rng) {
        case 0: return .simpleString(ByteBuffer(string: word(&rng)))
        case 1: return .simpleError(ByteBuffer(string: "ERR " + word(&rng)))
        case 2:
            return .blobString(
                ByteBuffer(
                    bytes: (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                )
            )
        case 3: return .blobError(ByteBuffer(string: "SYNTAX " + word(&rng)))
        case 4: return .number(Int64.random(in: .min ... .max, using: &rng))
        case 5:
            let choices: [Double] = [
                .infinity, -.infinity, 0, -1.5, 3.25, 1e300, Double(Int.random(in: -1000...1000, using: &rng)) / 8,
            ]
            return .double(choices.randomElement(using: &rng)!)
        case 6: return .null
        case 7: return .boolean(Bool.random(using: &rng))
        case 8: return .verbatimString(format: "txt", text: ByteBuffer(string: word(&rng) + "\r\n" + word(&rng)))
        case 9:
            return .bigNumber(
                (Bool.random(using: &rng) ? "-" : "") + String(UInt64.random(in: 0 ... .max, using: &rng))
                    + "123456789012345678901234567890"
            )
        case 10: return .array(children(depth, &rng))
        case 11: return .set(children(depth, &rng))
        case 12:
            return .map(
                (0..<Int.random(in: 0..<4, using: &rng)).map { _ in
                    RESPMapEntry(
                        key: value(depth: depth + 1, topLevel: false, using: &rng),
                        value: value(depth: depth + 1, topLevel: false, using: &rng)
                    )
                }
            )
        case 13: return .array([])
        default: return .push(children(depth, &rng))
        }
    }

    private static func children(_ depth: Int, _ rng: inout SeededGenerator) -> [RESPValue] {
        (0..<Int.random(in: 0..<5, using: &rng)).map { _ in value(depth: depth + 1, topLevel: false, using: &rng) }
    }

    private static func word(_ rng: inout SeededGenerator) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789 _-")
        return String((0..<Int.random(in: 0..<12, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
    }
}
