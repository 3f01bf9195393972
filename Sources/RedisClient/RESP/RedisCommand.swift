public import NIOCore

/// A command ready to send: its name and its arguments, already encoded as RESP bulk strings.
///
/// Build one with an argument list (`RedisCommand("SET", "key", "value")`) or incrementally with the `append`
/// methods. The encoding happens once, as arguments are added; sending copies the bytes into the connection's
/// outbound buffer next to the commands of other callers.
///
/// Keys appended with ``appendKey(_:)-(String)`` are recorded: on Redis Cluster the command goes to the node that
/// owns their hash slot, and a command whose keys are in different slots is refused before it is sent
/// (``RedisError/Code/crossSlot``). The typed helpers record their keys; for a raw command, use `appendKey`.
public struct RedisCommand: Sendable, CustomStringConvertible {
    /// The command name as given (for example `GET` or `XREADGROUP`), used in metrics and errors.
    public let name: String
    /// How many bulk strings the command has, its name included.
    public private(set) var count: Int
    /// The encoded bulk strings, without the leading `*<count>` array header.
    @usableFromInline
    private(set) var encodedArguments: ByteBuffer
    /// The hash slot of the recorded keys; nil when the command records none.
    public private(set) var slot: HashSlot?
    /// True when two recorded keys are in different hash slots, which a cluster refuses (`CROSSSLOT`).
    public private(set) var keysSpanSlots = false

    /// Creates a command with no arguments yet.
    /// - Parameters:
    ///   - name: The command name; it is sent as the first bulk string.
    ///   - capacity: Bytes to reserve for the arguments.
    public init(_ name: String, capacity: Int = 64) {
        self.name = name
        self.count = 0
        self.encodedArguments = ByteBuffer()
        self.encodedArguments.reserveCapacity(capacity)
        self.append(name)
    }

    /// Creates a command with one argument (no argument array is allocated).
    /// - Parameters:
    ///   - name: The command name.
    ///   - first: The argument.
    public init(_ name: String, _ first: some RESPArgument) {
        self.init(name)
        first.append(to: &self)
    }

    /// Creates a command with two arguments (no argument array is allocated).
    /// - Parameters:
    ///   - name: The command name.
    ///   - first: The first argument.
    ///   - second: The second argument.
    public init(_ name: String, _ first: some RESPArgument, _ second: some RESPArgument) {
        self.init(name)
        first.append(to: &self)
        second.append(to: &self)
    }

    /// Creates a command from a name and a list of arguments.
    /// - Parameters:
    ///   - name: The command name.
    ///   - arguments: The arguments, each sent as one bulk string.
    public init(_ name: String, _ arguments: any RESPArgument...) {
        self.init(name, arguments: arguments)
    }

    /// Creates a command from a name and a list of arguments.
    /// - Parameters:
    ///   - name: The command name.
    ///   - arguments: The arguments, each sent as one bulk string.
    public init(_ name: String, arguments: [any RESPArgument]) {
        self.init(name)
        for argument in arguments {
            argument.append(to: &self)
        }
    }

    /// Creates a command whose first argument is a key, recorded as with ``appendKey(_:)-(String)``.
    /// - Parameters:
    ///   - name: The command name.
    ///   - key: The key, sent as the first argument.
    public init(_ name: String, key: String) {
        self.init(name)
        self.appendKey(key)
    }

    /// Creates a command whose first argument is a key (recorded) followed by one argument (no argument array is
    /// allocated).
    /// - Parameters:
    ///   - name: The command name.
    ///   - key: The key, sent as the first argument.
    ///   - first: The argument after the key.
    public init(_ name: String, key: String, _ first: some RESPArgument) {
        self.init(name)
        self.appendKey(key)
        first.append(to: &self)
    }

    /// Creates a command whose first argument is a key (recorded) followed by other arguments.
    /// - Parameters:
    ///   - name: The command name.
    ///   - key: The key, sent as the first argument.
    ///   - arguments: The arguments after the key, each sent as one bulk string.
    public init(_ name: String, key: String, _ arguments: any RESPArgument...) {
        self.init(name)
        self.appendKey(key)
        for argument in arguments {
            argument.append(to: &self)
        }
    }

    /// Creates a command with a subcommand whose first argument is a key (recorded), such as
    /// `XINFO GROUPS key` or `XGROUP CREATE key group id`.
    /// - Parameters:
    ///   - name: The command name.
    ///   - subcommand: The subcommand, sent before the key.
    ///   - key: The key.
    ///   - arguments: The arguments after the key, each sent as one bulk string.
    public init(_ name: String, _ subcommand: String, key: String, _ arguments: any RESPArgument...) {
        self.init(name)
        self.append(subcommand)
        self.appendKey(key)
        for argument in arguments {
            argument.append(to: &self)
        }
    }

    /// Appends a string argument.
    /// - Parameter argument: The argument, sent as its UTF-8 bytes.
    public mutating func append(_ argument: String) {
        // Native strings are contiguous UTF-8: header, bytes and CRLF go in with one write.
        let written: Void? = argument.utf8.withContiguousStorageIfAvailable { utf8 in
            self.encodedArguments.writeBulkString(UnsafeRawBufferPointer(utf8))
        }
        if written == nil {
            self.encodedArguments.writeBulkHeader(length: argument.utf8.count)
            self.encodedArguments.writeString(argument)
            self.encodedArguments.writeCRLF()
        }
        self.count += 1
    }

    /// Appends a binary argument.
    /// - Parameter argument: The bytes to send.
    public mutating func append(_ argument: ByteBuffer) {
        argument.withUnsafeReadableBytes { bytes in self.encodedArguments.writeBulkString(bytes) }
        self.count += 1
    }

    /// Appends a binary argument.
    /// - Parameter bytes: The bytes to send.
    public mutating func append(bytes: some Collection<UInt8>) {
        self.encodedArguments.writeBulkHeader(length: bytes.count)
        self.encodedArguments.writeBytes(bytes)
        self.encodedArguments.writeCRLF()
        self.count += 1
    }

    /// Appends an integer argument, sent in decimal.
    /// - Parameter argument: The integer.
    public mutating func append(_ argument: Int) {
        self.encodedArguments.writeBulkHeader(length: decimalLength(of: argument))
        self.encodedArguments.writeDecimal(argument)
        self.encodedArguments.writeCRLF()
        self.count += 1
    }

    /// Appends a key and records its hash slot (see the type's documentation).
    /// - Parameter key: The key, sent as its UTF-8 bytes.
    public mutating func appendKey(_ key: String) {
        self.recordKey(HashSlot(key: key))
        self.append(key)
    }

    /// Appends a binary key and records its hash slot.
    /// - Parameter key: The key's bytes.
    public mutating func appendKey(_ key: ByteBuffer) {
        self.recordKey(HashSlot(keyBytes: key.readableBytesView))
        self.append(key)
    }

    /// Appends keys and records their hash slots.
    /// - Parameter keys: The keys, in order.
    public mutating func appendKeys(contentsOf keys: some Sequence<String>) {
        for key in keys { self.appendKey(key) }
    }

    /// Records that the command touches `key` without appending it (for a key that is already an argument, or to
    /// route a command by a key it names indirectly).
    /// - Parameter key: The key.
    public mutating func recordKey(_ key: String) {
        self.recordKey(HashSlot(key: key))
    }

    private mutating func recordKey(_ slot: HashSlot) {
        if let recorded = self.slot {
            if recorded != slot { self.keysSpanSlots = true }
        } else {
            self.slot = slot
        }
    }

    /// Appends any argument.
    /// - Parameter argument: The argument.
    public mutating func append(_ argument: some RESPArgument) {
        argument.append(to: &self)
    }

    /// Appends several arguments.
    /// - Parameter arguments: The arguments, in order.
    public mutating func append<S: Sequence>(contentsOf arguments: S) where S.Element: RESPArgument {
        for argument in arguments {
            argument.append(to: &self)
        }
    }

    /// Writes the whole command (array header and arguments) into `buffer`.
    /// - Parameter buffer: The outbound buffer.
    @inlinable
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeArrayHeader(count: self.count)
        buffer.writeImmutableBuffer(self.encodedArguments)
    }

    /// The command name only: arguments may hold secrets (`AUTH`) or personal data.
    public var description: String { self.name }
}
