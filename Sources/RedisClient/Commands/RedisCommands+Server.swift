extension RedisCommands {
    /// `PING`.
    /// - Throws: ``RedisError`` when the server cannot be reached or answers something else than `PONG`.
    public func ping() async throws {
        let reply = try await self.send(RedisCommand("PING"))
        guard reply.stringValue == "PONG" else { throw RedisError.unexpected(reply, expected: "PONG") }
    }

    /// `INFO [section]`, parsed.
    /// - Parameter section: One section (`server`, `clients`, `memory`, `stats`, ...), or nil for the default set.
    /// - Returns: Section name (lowercased) to its fields.
    public func info(_ section: String? = nil) async throws -> [String: [String: String]] {
        var command = RedisCommand("INFO")
        if let section { command.append(section) }
        let text = try await self.send(command).decode(as: String.self)
        var sections: [String: [String: String]] = [:]
        var current = ""
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("# ") {
                current = line.dropFirst(2).trimmingSpaces().lowercased()
                sections[current, default: [:]] = sections[current] ?? [:]
            } else if let colon = line.firstIndex(of: ":") {
                sections[current, default: [:]][String(line[..<colon])] = String(line[line.index(after: colon)...])
            }
        }
        return sections
    }

    /// `CLIENT ID` of the connection the command runs on.
    /// - Returns: The server's id for the connection.
    public func clientID() async throws -> Int {
        try await self.send(RedisCommand("CLIENT", "ID")).decode(as: Int.self)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
