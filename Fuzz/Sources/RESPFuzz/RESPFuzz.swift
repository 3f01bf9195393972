import NIOCore
import RedisClient

// libFuzzer drives this executable: its entry point (SwiftPM names it `<module>_main`) hands control to
// `LLVMFuzzerRunDriver`, which calls `fuzzOneInput` with each generated input.

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("RESPFuzz_main")
func fuzzMain(
    _ argc: Int32,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
}

/// Decodes the input with small limits, fed in pieces whose size the first byte chooses, and checks that
/// decoding the same bytes in one piece gives the same values. Any trap is a finding.
private let fuzzOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let step = Int(bytes[0] % 17) + 1
    let input = bytes.dropFirst()
    let limits = RESPDecoder.Limits(
        maxDepth: 16,
        maxBulkLength: 1 << 20,
        maxAggregateLength: 1 << 16,
        maxLineLength: 4096
    )

    func decode(step: Int) -> (values: [RESPValue], failed: Bool) {
        var decoder = RESPDecoder(limits: limits)
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        var offset = input.startIndex
        do {
            while offset < input.endIndex {
                let end = min(input.endIndex, offset + step)
                buffer.writeBytes(input[offset..<end])
                offset = end
                while let value = try decoder.decode(from: &buffer) { values.append(value) }
            }
        } catch {
            return (values, true)
        }
        return (values, false)
    }

    let whole = decode(step: Int.max / 2)
    let pieces = decode(step: step)
    // Splitting must not change the outcome (NaN doubles compare unequal, so compare descriptions).
    if whole.failed != pieces.failed || "\(whole.values)" != "\(pieces.values)" {
        fatalError("decoding depends on how the bytes were split (step \(step))")
    }
    return 0
}
