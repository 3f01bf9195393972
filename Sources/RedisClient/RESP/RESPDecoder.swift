public import NIOCore

/// An incremental RESP3 decoder: feed it the bytes read so far, take out every complete value.
///
/// The decoder keeps its place between calls. Elements of an aggregate that have fully arrived are consumed from
/// the buffer and kept in the decoder, so a large reply that arrives in many reads is parsed once, not from its
/// start on every read; a bulk payload is only looked at once all of it is there; a line being scanned for its
/// CRLF is not scanned again from its start. Pass the same (growing) buffer on every call.
///
/// The decoder never traps on malformed input: it throws ``RESPDecodingError``, after which the stream cannot be
/// trusted and the connection must be closed.
public struct RESPDecoder: Sendable {
    /// Caps that protect the client from a hostile or broken peer.
    public struct Limits: Sendable, Hashable {
        /// The deepest nesting of aggregates (attributes included).
        public var maxDepth: Int
        /// The longest blob string, blob error or verbatim string payload, in bytes.
        public var maxBulkLength: Int
        /// The most elements in one aggregate (pairs for maps and attributes).
        public var maxAggregateLength: Int
        /// The longest single line (a simple string, error, number, or a length header), in bytes.
        public var maxLineLength: Int
        /// The most bytes one top-level reply may take on the wire, everything nested in it included: with the
        /// other caps alone, an aggregate of many maximal bulk strings could still make a connection buffer
        /// gigabytes.
        public var maxReplyBytes: Int

        /// Creates limits.
        /// - Parameters:
        ///   - maxDepth: The deepest nesting of aggregates. Defaults to 64.
        ///   - maxBulkLength: The longest bulk payload. Defaults to 512 MiB, Redis's own `proto-max-bulk-len`.
        ///   - maxAggregateLength: The most elements in one aggregate. Defaults to 16,777,216.
        ///   - maxLineLength: The longest line. Defaults to 64 KiB.
        ///   - maxReplyBytes: The largest whole reply. Defaults to 513 MiB: a bulk string of the largest allowed
        ///     length plus its framing, or many smaller values adding up to about as much.
        public init(
            maxDepth: Int = 64,
            maxBulkLength: Int = 512 * 1024 * 1024,
            maxAggregateLength: Int = 1 << 24,
            maxLineLength: Int = 64 * 1024,
            maxReplyBytes: Int = 513 * 1024 * 1024
        ) {
            self.maxDepth = maxDepth
            self.maxBulkLength = maxBulkLength
            self.maxAggregateLength = maxAggregateLength
            self.maxLineLength = maxLineLength
            self.maxReplyBytes = maxReplyBytes
        }
    }

    private enum AggregateKind: Sendable {
        case array, set, push, map, attribute
    }

    private struct OpenAggregate: Sendable {
        var kind: AggregateKind
        var remaining: Int
        var elements: [RESPValue]
    }

    /// The limits this decoder enforces.
    public let limits: Limits
    private var open: [OpenAggregate] = []
    /// Bytes after the reader index already scanned for a CR without finding one.
    private var scannedWithoutCR = 0
    /// Bytes of the current top-level value consumed by earlier calls.
    private var consumedOfValue = 0

    /// Creates a decoder.
    /// - Parameter limits: Caps on nesting, lengths and line size.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True while a value has been partly consumed from the buffer.
    public var isInsideValue: Bool { !self.open.isEmpty }

    /// Decodes the next complete top-level value, consuming its bytes.
    ///
    /// - Parameter buffer: The bytes received so far; decoded bytes are consumed from it.
    /// - Returns: The value, or `nil` when more bytes are needed (bytes of a partial value may have been consumed).
    /// - Throws: ``RESPDecodingError`` when the bytes are not valid RESP3 or exceed a limit.
    public mutating func decode(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        let start = buffer.readerIndex
        if let value = try self.decodeValue(from: &buffer) {
            let consumed = self.consumedOfValue + (buffer.readerIndex - start)
            self.consumedOfValue = 0
            if consumed > self.limits.maxReplyBytes { throw .replyTooLong }
            return value
        }
        // What is consumed plus what waits in the buffer all belongs to the value being received.
        self.consumedOfValue += buffer.readerIndex - start
        if self.consumedOfValue + buffer.readableBytes > self.limits.maxReplyBytes { throw .replyTooLong }
        return nil
    }

    @inline(__always)
    private mutating func decodeValue(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> RESPValue? {
        while true {
            guard let token = try self.nextToken(from: &buffer) else { return nil }
            switch token {
            case .value(let value):
                if let complete = self.fold(value) { return complete }
            case .open(let kind, let count):
                if count == 0 {
                    let empty: RESPValue
                    switch kind {
                    case .attribute: continue
                    case .array: empty = .array([])
                    case .set: empty = .set([])
                    case .push: empty = .push([])
                    case .map: empty = .map([])
                    }
                    if let complete = self.fold(empty) { return complete }
                } else {
                    guard self.open.count < self.limits.maxDepth else { throw .nestingTooDeep }
                    let elementCount = (kind == .map || kind == .attribute) ? count * 2 : count
                    var elements: [RESPValue] = []
                    elements.reserveCapacity(min(elementCount, 1024))
                    self.open.append(OpenAggregate(kind: kind, remaining: elementCount, elements: elements))
                }
            }
        }
    }

    private enum Token {
        case value(RESPValue)
        case open(AggregateKind, Int)
    }

    /// Adds a complete value to the innermost open aggregate; returns a top-level value once one is complete.
    private mutating func fold(_ value: RESPValue) -> RESPValue? {
        var value = value
        while !self.open.isEmpty {
            let top = self.open.count - 1
            self.open[top].elements.append(value)
            self.open[top].remaining -= 1
            if self.open[top].remaining > 0 { return nil }
            let done = self.open.removeLast()
            switch done.kind {
            case .attribute:
                // Attributes annotate the value that follows; they are not elements and not replies.
                return nil
            case .array: value = .array(done.elements)
            case .set: value = .set(done.elements)
            case .push: value = .push(done.elements)
            case .map:
                var entries: [RESPMapEntry] = []
                entries.reserveCapacity(done.elements.count / 2)
                var index = 0
                while index + 1 < done.elements.count {
                    entries.append(RESPMapEntry(key: done.elements[index], value: done.elements[index + 1]))
                    index += 2
                }
                value = .map(entries)
            }
        }
        return value
    }

    /// Reads one scalar or aggregate header, or returns nil (consuming nothing) when it has not fully arrived.
    private mutating func nextToken(from buffer: inout ByteBuffer) throws(RESPDecodingError) -> Token? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        let lineLength = try self.lineLength(in: buffer)
        guard let lineLength else { return nil }
        let start = buffer.readerIndex
        let lineStart = start + 1
        let afterLine = 1 + lineLength + 2

        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let line = buffer.getSlice(at: lineStart, length: lineLength)!
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(type == UInt8(ascii: "+") ? .simpleString(line) : .simpleError(line))

        case UInt8(ascii: ":"):
            guard let number = Self.parseInteger(buffer, at: lineStart, length: lineLength) else {
                throw .malformedNumber
            }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(.number(number))

        case UInt8(ascii: ","):
            guard let double = Self.parseDouble(buffer, at: lineStart, length: lineLength) else {
                throw .malformedDouble
            }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(.double(double))

        case UInt8(ascii: "#"):
            guard lineLength == 1, let flag = buffer.getInteger(at: lineStart, as: UInt8.self),
                flag == UInt8(ascii: "t") || flag == UInt8(ascii: "f")
            else { throw .malformedBoolean }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(.boolean(flag == UInt8(ascii: "t")))

        case UInt8(ascii: "_"):
            guard lineLength == 0 else { throw .malformedNull }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(.null)

        case UInt8(ascii: "("):
            guard let digits = Self.parseBigNumber(buffer, at: lineStart, length: lineLength) else {
                throw .malformedBigNumber
            }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .value(.bigNumber(digits))

        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            if Self.isStreamedMarker(buffer, at: lineStart, length: lineLength) { throw .unsupportedStreamedType }
            guard let length = Self.parseInteger(buffer, at: lineStart, length: lineLength) else {
                throw .malformedLength
            }
            if length == -1 && type == UInt8(ascii: "$") {
                buffer.moveReaderIndex(forwardBy: afterLine)
                return .value(.null)
            }
            guard length >= 0 else { throw .malformedLength }
            guard length <= self.limits.maxBulkLength else { throw .bulkTooLong }
            let payloadLength = Int(length)
            let total = afterLine + payloadLength + 2
            guard buffer.readableBytes >= total else { return nil }
            let payloadStart = start + afterLine
            guard buffer.getInteger(at: payloadStart + payloadLength, as: UInt8.self) == UInt8(ascii: "\r"),
                buffer.getInteger(at: payloadStart + payloadLength + 1, as: UInt8.self) == UInt8(ascii: "\n")
            else { throw .missingCRLF }
            let value: RESPValue
            if type == UInt8(ascii: "=") {
                guard payloadLength >= 4,
                    buffer.getInteger(at: payloadStart + 3, as: UInt8.self) == UInt8(ascii: ":"),
                    let format = buffer.getString(at: payloadStart, length: 3)
                else { throw .malformedVerbatimString }
                value = .verbatimString(
                    format: format,
                    text: buffer.getSlice(at: payloadStart + 4, length: payloadLength - 4)!
                )
            } else {
                let payload = buffer.getSlice(at: payloadStart, length: payloadLength)!
                value = type == UInt8(ascii: "$") ? .blobString(payload) : .blobError(payload)
            }
            buffer.moveReaderIndex(forwardBy: total)
            return .value(value)

        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "|"), UInt8(ascii: ">"):
            if Self.isStreamedMarker(buffer, at: lineStart, length: lineLength) { throw .unsupportedStreamedType }
            guard let count = Self.parseInteger(buffer, at: lineStart, length: lineLength) else {
                throw .malformedLength
            }
            if count == -1 && type == UInt8(ascii: "*") {
                buffer.moveReaderIndex(forwardBy: afterLine)
                return .value(.null)
            }
            guard count >= 0 else { throw .malformedLength }
            guard count <= self.limits.maxAggregateLength else { throw .aggregateTooLong }
            let kind: AggregateKind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: "%"): kind = .map
            case UInt8(ascii: "|"): kind = .attribute
            default:
                guard self.open.isEmpty else { throw .pushInsideAggregate }
                kind = .push
            }
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .open(kind, Int(count))

        case UInt8(ascii: ";"), UInt8(ascii: "."):
            throw .unsupportedStreamedType

        default:
            throw .invalidTypeByte
        }
    }

    /// The length of the line after the type byte, excluding CRLF; nil when its CRLF has not arrived yet.
    private mutating func lineLength(in buffer: ByteBuffer) throws(RESPDecodingError) -> Int? {
        let resumeAt = max(1, self.scannedWithoutCR)
        let found = buffer.withUnsafeReadableBytes { bytes -> Int in
            var index = resumeAt
            let count = bytes.count
            while index < count {
                if bytes[index] == UInt8(ascii: "\r") {
                    guard index + 1 < count else { return -1 }
                    return bytes[index + 1] == UInt8(ascii: "\n") ? index - 1 : -2
                }
                index += 1
            }
            return -1
        }
        switch found {
        case -1:
            // Keep the scan position (minus a possible trailing CR) so the next call resumes there.
            self.scannedWithoutCR = max(1, buffer.readableBytes - 1)
            if buffer.readableBytes - 1 > self.limits.maxLineLength { throw .lineTooLong }
            return nil
        case -2:
            throw .missingCRLF
        default:
            self.scannedWithoutCR = 0
            if found > self.limits.maxLineLength { throw .lineTooLong }
            return found
        }
    }

    private static func isStreamedMarker(_ buffer: ByteBuffer, at index: Int, length: Int) -> Bool {
        length == 1 && buffer.getInteger(at: index, as: UInt8.self) == UInt8(ascii: "?")
    }

    /// Parses an optionally signed decimal Int64, rejecting empty input, stray bytes and overflow.
    static func parseInteger(_ buffer: ByteBuffer, at index: Int, length: Int) -> Int64? {
        guard length > 0, length <= 20 else { return nil }
        return buffer.withUnsafeReadableBytes { bytes -> Int64? in
            var position = index - buffer.readerIndex
            let end = position + length
            var negative = false
            if bytes[position] == UInt8(ascii: "-") {
                negative = true
                position += 1
            } else if bytes[position] == UInt8(ascii: "+") {
                position += 1
            }
            guard position < end else { return nil }
            var value: Int64 = 0
            while position < end {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) =
                    negative
                    ? shifted.subtractingReportingOverflow(Int64(digit))
                    : shifted.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = next
                position += 1
            }
            return value
        }
    }

    private static func parseDouble(_ buffer: ByteBuffer, at index: Int, length: Int) -> Double? {
        guard length > 0, let text = buffer.getString(at: index, length: length) else { return nil }
        switch text.lowercased() {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: break
        }
        // Only plain decimal notation: no hex floats, no "infinity" spellings, no spaces.
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E")
        }
        guard allowed else { return nil }
        return Double(text)
    }

    private static func parseBigNumber(_ buffer: ByteBuffer, at index: Int, length: Int) -> String? {
        guard length > 0, let text = buffer.getString(at: index, length: length) else { return nil }
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return text
    }
}
