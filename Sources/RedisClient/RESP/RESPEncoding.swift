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
        if value < 10 {
            self.writeInteger(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        var digits = 1
        var probe = value
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { pointer in
            var rest = value
            var index = digits - 1
            while index >= 0 {
                pointer[index] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
                rest /= 10
                index -= 1
            }
            return digits
        }
    }

    /// Writes a RESP bulk-string header `$<length>\r\n`.
    @inlinable
    mutating func writeBulkHeader(length: Int) {
        self.writeInteger(UInt8(ascii: "$"))
        self.writeDecimal(length)
        self.writeInteger(UInt16(0x0D0A))
    }

    /// Writes a whole RESP bulk string (`$<length>\r\n<bytes>\r\n`) with one capacity check and one write.
    @inlinable
    mutating func writeBulkString(_ bytes: UnsafeRawBufferPointer) {
        let length = bytes.count
        let digits = decimalLength(of: length)
        let total = 1 + digits + 2 + length + 2
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            out[0] = UInt8(ascii: "$")
            var rest = length
            var index = digits
            while index >= 1 {
                out[index] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
                rest /= 10
                index -= 1
            }
            out[digits + 1] = 0x0D
            out[digits + 2] = 0x0A
            if length > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[(digits + 3)...]).copyMemory(from: bytes)
            }
            out[total - 2] = 0x0D
            out[total - 1] = 0x0A
            return total
        }
    }

    /// Writes a RESP array header `*<count>\r\n` with one capacity check.
    @inlinable
    mutating func writeArrayHeader(count: Int) {
        guard count >= 0 else {
            self.writeInteger(UInt8(ascii: "*"))
            self.writeDecimal(count)
            self.writeCRLF()
            return
        }
        let digits = decimalLength(of: count)
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 3) { out in
            out[0] = UInt8(ascii: "*")
            var rest = count
            var index = digits
            while index >= 1 {
                out[index] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
                rest /= 10
                index -= 1
            }
            out[digits + 1] = 0x0D
            out[digits + 2] = 0x0A
            return digits + 3
        }
    }

    /// Writes `\r\n`.
    @inlinable
    mutating func writeCRLF() {
        self.writeInteger(UInt16(0x0D0A))
    }
}
