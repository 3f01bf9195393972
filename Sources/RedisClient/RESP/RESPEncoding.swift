public import NIOCore

/// A value that can be sent to Redis as one argument of a command (a RESP bulk string).
public protocol RESPArgument: Sendable {
    /// Appends this value to `command` as one bulk-string argument.
    /// - Parameter command: The command being built.
    func append(to command: inout RedisCommand)
}

extension String: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(self) }
}

extension Substring: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(String(self)) }
}

extension ByteBuffer: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(self) }
}

extension Array: RESPArgument where Element == UInt8 {
    public func append(to command: inout RedisCommand) { command.append(bytes: self) }
}

extension Int: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(self) }
}

extension Int64: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(Int(self)) }
}

extension Int32: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(Int(self)) }
}

extension UInt64: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(String(self)) }
}

extension Double: RESPArgument {
    public func append(to command: inout RedisCommand) { command.append(Self.respText(self)) }

    /// Redis's spelling of a double: `inf`, `-inf`, or the shortest round-tripping decimal.
    static func respText(_ value: Double) -> String {
        if value == .infinity { return "+inf" }
        if value == -.infinity { return "-inf" }
        return "\(value)"
    }
}

/// The number of ASCII bytes `value` takes in decimal, its sign included.
@inlinable
func decimalLength(of value: Int) -> Int {
    if value == .min { return 20 }
    var length = value < 0 ? 2 : 1
    var rest = value < 0 ? -value : value
    while rest >= 10 {
        rest /= 10
        length += 1
    }
    return length
}

/// Stores the non-negative `value` as `digits` decimal digits at `out[offset..<offset + digits]`.
@inlinable
func storeDigits(_ value: Int, digits: Int, into out: UnsafeMutableRawBufferPointer, at offset: Int) {
    var rest = value
    var index = offset + digits - 1
    while index >= offset {
        out[index] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
        rest /= 10
        index -= 1
    }
}

/// Stores `prefix`, the non-negative `value` in `digits` decimal digits, and CRLF at the start of `out`.
/// - Returns: The bytes stored (`digits + 3`).
@inlinable
func storeHeader(_ prefix: UInt8, _ value: Int, digits: Int, into out: UnsafeMutableRawBufferPointer) -> Int {
    out[0] = prefix
    storeDigits(value, digits: digits, into: out, at: 1)
    out[digits + 1] = 0x0D
    out[digits + 2] = 0x0A
    return digits + 3
}

extension ByteBuffer {
    /// Writes `value` in decimal ASCII without allocating.
    @inlinable
    mutating func writeDecimal(_ value: Int) {
        if value < 0 {
            self.writeInteger(UInt8(ascii: "-"))
            if value == .min {
                self.writeStaticString("9223372036854775808")
                return
            }
            self.writeDecimal(-value)
            return
        }
        let digits = decimalLength(of: value)
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { out in
            storeDigits(value, digits: digits, into: out, at: 0)
            return digits
        }
    }

    /// Writes a RESP bulk-string header `$<length>\r\n` (`length` is never negative) in one write.
    @inlinable
    mutating func writeBulkHeader(length: Int) {
        let digits = decimalLength(of: length)
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 3) { out in
            storeHeader(UInt8(ascii: "$"), length, digits: digits, into: out)
        }
    }

    /// Writes a whole RESP bulk string (`$<length>\r\n<bytes>\r\n`) with one capacity check and one write.
    @inlinable
    mutating func writeBulkString(_ bytes: UnsafeRawBufferPointer) {
        let length = bytes.count
        let digits = decimalLength(of: length)
        let total = digits + 3 + length + 2
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            let header = storeHeader(UInt8(ascii: "$"), length, digits: digits, into: out)
            if length > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[header...]).copyMemory(from: bytes)
            }
            out[total - 2] = 0x0D
            out[total - 1] = 0x0A
            return total
        }
    }

    /// Writes a RESP array header `*<count>\r\n` (`count` is never negative) in one write.
    @inlinable
    mutating func writeArrayHeader(count: Int) {
        let digits = decimalLength(of: count)
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 3) { out in
            storeHeader(UInt8(ascii: "*"), count, digits: digits, into: out)
        }
    }

    /// Writes `\r\n`.
    @inlinable
    mutating func writeCRLF() {
        self.writeInteger(UInt16(0x0D0A))
    }
}
