import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// libFuzzer drives this executable: its entry point (SwiftPM names it `<module>_main`) hands control to
// `LLVMFuzzerRunDriver`, which calls `fuzzOneInput` with each generated input.

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("APIFuzz_main")
func fuzzMain(
    _ argc: Int32,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
}

/// The first byte picks what the rest is fed to: the order body (decoding, then validation and merging), the
/// product body (decoding, then validation), or the webhook signature header parser. Every refusal must be an
/// `APIError` with a 4xx status (a 5xx or another error type would be a 500 in the service); any trap is a
/// finding.
private let fuzzOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let input = bytes.dropFirst()
    switch bytes[0] % 3 {
    case 0:
        check {
            let request = try JSONBody.decode(PlaceOrderRequest.self, from: Data(input))
            let lines = try request.lines()
            // Merged and bounded: at most 100 products, each 1–1000 units, in product order.
            precondition(lines.count <= PlaceOrderRequest.Limits.items)
            precondition(lines.allSatisfy { (1...PlaceOrderRequest.Limits.quantity).contains($0.quantity) })
            precondition(Set(lines.map(\.productID)).count == lines.count)
        }
    case 1:
        check {
            let input = try JSONBody.decode(ProductInput.self, from: Data(input))
            let draft = try input.validated()
            // What validation lets through, the database's CHECKs accept.
            precondition((1...200).contains(draft.name.unicodeScalars.count))
            precondition(draft.description.unicodeScalars.count <= 5000)
            precondition(
                !draft.name.unicodeScalars.contains("\u{0}") && !draft.description.unicodeScalars.contains("\u{0}")
            )
            precondition(draft.stock >= 0 && draft.stock <= Int(Int32.max))
        }
    default:
        if let header = try? WebhookSignatureHeader.parse(bytes: input) {
            precondition((1...WebhookSignatureHeader.maxCandidates).contains(header.candidates.count))
            precondition(header.candidates.allSatisfy { $0.count == WebhookSignatureHeader.macLength })
            precondition(input.count <= WebhookSignatureHeader.maxLength)
        }
    }
    return 0
}

/// Runs `body`; an error other than a 4xx `APIError` is a finding.
private func check(_ body: () throws -> Void) {
    do {
        try body()
    } catch let error as APIError {
        precondition((400..<500).contains(Int(error.status.code)), "a \(error.status.code) for client input")
    } catch {
        preconditionFailure("\(type(of: error)) escaped validation")
    }
}
