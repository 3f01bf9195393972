import NIOCore
import RedisClient
import Testing

@Suite struct RedisCommandEncodingTests {
    private func wire(_ command: RedisCommand) -> String {
        var buffer = ByteBuffer()
        command.write(into: &buffer)
        return String(buffer: buffer)
    }

    @Test func encodesArrayOfBulkStrings() {
        #expect(self.wire(RedisCommand("PING")) == "*1\r\n$4\r\nPING\r\n")
        #expect(self.wire(RedisCommand("SET", "key", "value")) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
    }

    @Test func encodesIntegersDoublesAndBinaryArguments() {
        #expect(
            self.wire(RedisCommand("X", 0, -42, Int.max))
                == "*4\r\n$1\r\nX\r\n$1\r\n0\r\n$3\r\n-42\r\n$19\r\n9223372036854775807\r\n"
        )
        #expect(self.wire(RedisCommand("X", Int.min)) == "*2\r\n$1\r\nX\r\n$20\r\n-9223372036854775808\r\n")
        #expect(
            self.wire(RedisCommand("X", 1.5, Double.infinity, -Double.infinity))
                == "*4\r\n$1\r\nX\r\n$3\r\n1.5\r\n$4\r\n+inf\r\n$4\r\n-inf\r\n"
        )
        #expect(
            self.wire(RedisCommand("X", ByteBuffer(bytes: [0, 13, 10, 255])))
                == "*2\r\n$1\r\nX\r\n$4\r\n\u{0}\r\n\u{FFFD}\r\n"
        )
        var command = RedisCommand("X")
        command.append(bytes: [UInt8]())
        command.append("é")
        #expect(self.wire(command) == "*3\r\n$1\r\nX\r\n$0\r\n\r\n$2\r\né\r\n")
        #expect(command.count == 3)
    }

    @Test func lengthsOfEveryWidthAndEmptyArgumentsAreExact() {
        for length in [0, 1, 9, 10, 99, 100, 1000, 65_536] {
            let text = String(repeating: "a", count: length)
            let header = "$\(length)\r\n"
            #expect(self.wire(RedisCommand("S", text)) == "*2\r\n$1\r\nS\r\n\(header)\(text)\r\n")
            #expect(self.wire(RedisCommand("S", ByteBuffer(string: text))) == "*2\r\n$1\r\nS\r\n\(header)\(text)\r\n")
        }
        // Twelve arguments: a two-digit array header; a slice of a buffer sends only its readable bytes.
        var buffer = ByteBuffer(string: "skip-me:kept")
        buffer.moveReaderIndex(forwardBy: 8)
        var command = RedisCommand("M", buffer)
        command.append(contentsOf: (1...10).map { "v\($0)" })
        #expect(command.count == 12)
        let arguments = (1...10).map { "$\(String($0).count + 1)\r\nv\($0)\r\n" }.joined()
        #expect(self.wire(command) == "*12\r\n$1\r\nM\r\n$4\r\nkept\r\n" + arguments)
    }

    @Test func descriptionHidesArguments() {
        #expect(RedisCommand("AUTH", "user", "secret").description == "AUTH")
    }
}
