extension Array where Element == UInt8 {
    /// The bytes as lowercase hexadecimal digits, two per byte (webhook signatures, idempotency and request
    /// digests).
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(self.count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
