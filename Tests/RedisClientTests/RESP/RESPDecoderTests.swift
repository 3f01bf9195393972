import NIOCore
import RedisClient
import Testing

@Suite struct RESPDecoderTests {
    /// Decodes every complete value in `text`; fails the test if bytes are left over.
    private func decodeAll(
        _ text: String,
        limits: RESPDecoder.Limits = .init(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [RESPValue] {
        var decoder = RESPDecoder(limits: limits)
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try decoder.decode(from: &buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "undecoded bytes left", sourceLocation: sourceLocation)
        #expect(!decoder.isInsideValue, sourceLocation: sourceLocation)
        return values
    }

    private func one(_ text: String) throws -> RESPValue {
        let values = try self.decodeAll(text)
        try #require(values.count == 1)
        return values[0]
    }

    private func string(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    // MARK: Scalars

    @Test func simpleStringAndError() throws {
        #expect(try self.one("+OK\r\n") == .simpleString(self.string("OK")))
        #expect(try self.one("+\r\n") == .simpleString(self.string("")))
        #expect(try self.one("-ERR unknown command\r\n") == .simpleError(self.string("ERR unknown command")))
    }

    @Test func blobStringAndErrorAndEmptyVersusNull() throws {
        #expect(try self.one("$5\r\nhello\r\n") == .blobString(self.string("hello")))
        #expect(try self.one("$0\r\n\r\n") == .blobString(self.string("")))
        #expect(try self.one("$-1\r\n") == .null)
        #expect(try self.one("$0\r\n\r\n") != .null)
        // Binary-safe: CR LF inside the payload is data.
        #expect(try self.one("$4\r\na\r\nb\r\n") == .blobString(self.string("a\r\nb")))
        #expect(try self.one("!21\r\nSYNTAX invalid syntax\r\n") == .blobError(self.string("SYNTAX invalid syntax")))
    }

    @Test(arguments: [
        (":0\r\n", Int64(0)), (":-123\r\n", -123), (":+7\r\n", 7),
        (":9223372036854775807\r\n", .max), (":-9223372036854775808\r\n", .min),
    ])
    func numbers(text: String, expected: Int64) throws {
        #expect(try self.one(text) == .number(expected))
    }

    @Test(arguments: [
        ":9223372036854775808\r\n", ":-9223372036854775809\r\n", ":\r\n", ":-\r\n", ":12a\r\n", ": 1\r\n",
    ])
    func malformedNumbers(text: String) {
        #expect(throws: RESPDecodingError.malformedNumber) { try self.decodeAll(text) }
    }

    @Test func doubles() throws {
        #expect(try self.one(",3.14\r\n") == .double(3.14))
        #expect(try self.one(",-0.5\r\n") == .double(-0.5))
        #expect(try self.one(",10\r\n") == .double(10))
        #expect(try self.one(",1.5e3\r\n") == .double(1500))
        #expect(try self.one(",inf\r\n") == .double(.infinity))
        #expect(try self.one(",-inf\r\n") == .double(-.infinity))
        guard case .double(let nan) = try self.one(",nan\r\n") else {
            Issue.record("not a double")
            return
        }
        #expect(nan.isNaN)
        #expect(throws: RESPDecodingError.malformedDouble) { try self.decodeAll(",1.2.3\r\n") }
        #expect(throws: RESPDecodingError.malformedDouble) { try self.decodeAll(",0x1p3\r\n") }
        #expect(throws: RESPDecodingError.malformedDouble) { try self.decodeAll(",\r\n") }
    }

    @Test func nullBooleanBigNumberVerbatim() throws {
        #expect(try self.one("_\r\n") == .null)
        #expect(try self.one("#t\r\n") == .boolean(true))
        #expect(try self.one("#f\r\n") == .boolean(false))
        #expect(throws: RESPDecodingError.malformedBoolean) { try self.decodeAll("#x\r\n") }
        #expect(throws: RESPDecodingError.malformedNull) { try self.decodeAll("_x\r\n") }
        #expect(
            try self.one("(3492890328409238509324850943850943825024385\r\n")
                == .bigNumber("3492890328409238509324850943850943825024385")
        )
        #expect(try self.one("(-12\r\n") == .bigNumber("-12"))
        #expect(throws: RESPDecodingError.malformedBigNumber) { try self.decodeAll("(12a\r\n") }
        #expect(throws: RESPDecodingError.malformedBigNumber) { try self.decodeAll("(-\r\n") }
        #expect(
            try self.one("=15\r\ntxt:Some string\r\n")
                == .verbatimString(format: "txt", text: self.string("Some string"))
        )
        #expect(try self.one("=4\r\nmkd:\r\n") == .verbatimString(format: "mkd", text: self.string("")))
        #expect(throws: RESPDecodingError.malformedVerbatimString) { try self.decodeAll("=3\r\ntxt\r\n") }
        #expect(throws: RESPDecodingError.malformedVerbatimString) { try self.decodeAll("=5\r\ntxt-x\r\n") }
    }

    // MARK: Aggregates

    @Test func aggregatesEmptyVersusNull() throws {
        #expect(try self.one("*0\r\n") == .array([]))
        #expect(try self.one("*-1\r\n") == .null)
        #expect(try self.one("%0\r\n") == .map([]))
        #expect(try self.one("~0\r\n") == .set([]))
        #expect(try self.one(">0\r\n") == .push([]))
        #expect(throws: RESPDecodingError.malformedLength) { try self.decodeAll("%-1\r\n") }
        #expect(throws: RESPDecodingError.malformedLength) { try self.decodeAll("*-2\r\n") }
        #expect(throws: RESPDecodingError.malformedLength) { try self.decodeAll("$-2\r\n") }
    }

    @Test func nestedAggregates() throws {
        let value = try self.one("*3\r\n*1\r\n:1\r\n%1\r\n+a\r\n~2\r\n#t\r\n_\r\n$1\r\nz\r\n")
        #expect(
            value
                == .array([
                    .array([.number(1)]),
                    .map([RESPMapEntry(key: .simpleString(self.string("a")), value: .set([.boolean(true), .null]))]),
                    .blobString(self.string("z")),
                ])
        )
    }

    @Test func mapKeepsOrderAndAllowsAggregateKeys() throws {
        let value = try self.one("%2\r\n+b\r\n:2\r\n*1\r\n:0\r\n+x\r\n")
        #expect(
            value
                == .map([
                    RESPMapEntry(key: .simpleString(self.string("b")), value: .number(2)),
                    RESPMapEntry(key: .array([.number(0)]), value: .simpleString(self.string("x"))),
                ])
        )
    }

    // MARK: Attributes and push frames in odd places

    @Test func attributeBeforeTopLevelValueIsDropped() throws {
        let values = try self.decodeAll("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:42\r\n")
        #expect(values == [.number(42)])
    }

    @Test func attributeInsideAggregateIsNotAnElement() throws {
        let values = try self.decodeAll("*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n")
        #expect(values == [.array([.number(1), .number(2)])])
    }

    @Test func attributeBeforeLastElementAndNestedAttribute() throws {
        let values = try self.decodeAll("*2\r\n:1\r\n|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n:2\r\n")
        #expect(values == [.array([.number(1), .number(2)])])
    }

    @Test func emptyAttributeAndAttributeBeforePush() throws {
        let values = try self.decodeAll("|0\r\n:1\r\n|1\r\n+k\r\n+v\r\n>2\r\n+message\r\n+x\r\n")
        #expect(
            values == [.number(1), .push([.simpleString(self.string("message")), .simpleString(self.string("x"))])]
        )
    }

    @Test func pushBetweenRepliesIsItsOwnValue() throws {
        let values = try self.decodeAll(":1\r\n>3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n:2\r\n")
        #expect(values.count == 3)
        #expect(values[0] == .number(1))
        #expect(values[2] == .number(2))
        #expect(
            values[1]
                == .push([
                    .simpleString(self.string("message")), .simpleString(self.string("ch")),
                    .blobString(self.string("hi")),
                ])
        )
    }

    @Test func pushInsideAggregateIsRejected() {
        #expect(throws: RESPDecodingError.pushInsideAggregate) { try self.decodeAll("*2\r\n:1\r\n>1\r\n:2\r\n") }
    }

    // MARK: Incremental decoding

    /// The same stream fed in two pieces at every possible boundary decodes to the same values.
    @Test func splitAtEveryByteBoundary() throws {
        let stream =
            "+OK\r\n-ERR x\r\n:-5\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n,1.5\r\n,-inf\r\n_\r\n#t\r\n(123\r\n"
            + "=8\r\ntxt:abcd\r\n!3\r\nbad\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n%1\r\n+k\r\n~1\r\n$0\r\n\r\n"
            + ">2\r\n+message\r\n*0\r\n:9\r\n"
        let expected = try self.decodeAll(stream)
        #expect(expected.count == 16)
        let bytes = Array(stream.utf8)
        for split in 0...bytes.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var values: [RESPValue] = []
            while let value = try decoder.decode(from: &buffer) { values.append(value) }
            buffer.writeBytes(bytes[split...])
            while let value = try decoder.decode(from: &buffer) { values.append(value) }
            #expect(values == expected, "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
    }

    /// Byte by byte, as the slowest possible network would deliver it.
    @Test func oneByteAtATime() throws {
        let stream = "*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n*2\r\n:1\r\n,2.5\r\n(99\r\n"
        let expected = try self.decodeAll(stream)
        var decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in stream.utf8 {
            buffer.writeInteger(byte)
            while let value = try decoder.decode(from: &buffer) { values.append(value) }
        }
        #expect(values == expected)
    }

    /// Elements that fully arrived are consumed and kept by the decoder: a large reply is not re-parsed
    /// from its start on every read.
    @Test func completedElementsAreConsumedWhileTheRestArrives() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "*4\r\n:1\r\n$3\r\nabc\r\n:")
        #expect(try decoder.decode(from: &buffer) == nil)
        #expect(decoder.isInsideValue)
        // Only the incomplete third element is left in the buffer.
        #expect(String(buffer: buffer) == ":")
        buffer.writeString("3\r\n:4")
        #expect(try decoder.decode(from: &buffer) == nil)
        #expect(String(buffer: buffer) == ":4")
        buffer.writeString("\r\n")
        #expect(
            try decoder.decode(from: &buffer)
                == .array([.number(1), .blobString(self.string("abc")), .number(3), .number(4)])
        )
        #expect(!decoder.isInsideValue)
    }

    /// A bulk payload is only consumed once all of it is there; partial payloads leave the buffer untouched.
    @Test func largeBulkArrivesInPieces() throws {
        let payload = String(repeating: "x", count: 100_000)
        let wire = Array("$100000\r\n\(payload)\r\n".utf8)
        var decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var offset = 0
        var result: RESPValue?
        while offset < wire.count {
            let end = min(offset + 1_460, wire.count)
            buffer.writeBytes(wire[offset..<end])
            offset = end
            result = try decoder.decode(from: &buffer)
            if offset < wire.count { #expect(result == nil) }
        }
        #expect(result == .blobString(self.string(payload)))
    }

    // MARK: Limits and malformed input

    @Test func nestingDepthIsCapped() throws {
        let limits = RESPDecoder.Limits(maxDepth: 3)
        #expect(try self.decodeAll("*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits).count == 1)
        #expect(throws: RESPDecodingError.nestingTooDeep) {
            try self.decodeAll("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits)
        }
        #expect(throws: RESPDecodingError.nestingTooDeep) {
            try self.decodeAll("*1\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", limits: RESPDecoder.Limits(maxDepth: 2))
        }
    }

    @Test func bulkAndAggregateLengthsAreCapped() {
        let limits = RESPDecoder.Limits(maxBulkLength: 10, maxAggregateLength: 3)
        #expect(throws: RESPDecodingError.bulkTooLong) { try self.decodeAll("$11\r\n", limits: limits) }
        #expect(throws: RESPDecodingError.bulkTooLong) {
            try self.decodeAll("!9223372036854775807\r\n", limits: limits)
        }
        #expect(throws: RESPDecodingError.aggregateTooLong) { try self.decodeAll("*4\r\n", limits: limits) }
        #expect(throws: RESPDecodingError.aggregateTooLong) {
            try self.decodeAll("%9223372036854775807\r\n", limits: limits)
        }
    }

    @Test func overlongLineIsRejectedBeforeItsEnd() {
        var decoder = RESPDecoder(limits: RESPDecoder.Limits(maxLineLength: 16))
        var buffer = ByteBuffer(string: "+" + String(repeating: "a", count: 10))
        #expect(throws: Never.self) { _ = try decoder.decode(from: &buffer) }
        buffer.writeString(String(repeating: "a", count: 10))
        #expect(throws: RESPDecodingError.lineTooLong) { _ = try decoder.decode(from: &buffer) }
    }

    @Test(arguments: [
        ("?\r\n", RESPDecodingError.invalidTypeByte),
        ("hello\r\n", .invalidTypeByte),
        ("$abc\r\n", .malformedLength),
        ("$\r\n", .malformedLength),
        ("$3\r\nabcd\r\n", .missingCRLF),
        ("$3\r\nabc\n\n", .missingCRLF),
        ("+OK\rX", .missingCRLF),
        ("$?\r\n", .unsupportedStreamedType),
        ("*?\r\n", .unsupportedStreamedType),
        (";4\r\nabcd\r\n", .unsupportedStreamedType),
        (".\r\n", .unsupportedStreamedType),
    ])
    func malformedInput(text: String, error: RESPDecodingError) {
        #expect(throws: error) { try self.decodeAll(text) }
    }
}
