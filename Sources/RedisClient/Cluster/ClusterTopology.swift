import NIOCore

/// A cluster's slot map as one node described it: the shards, each a primary with its replicas and the slot ranges
/// it serves. Built from a `CLUSTER SHARDS` reply (Redis 7+) or a `CLUSTER SLOTS` reply; pure, no I/O.
struct ClusterTopology: Sendable, Equatable {
    struct Shard: Sendable, Equatable {
        var primary: RedisEndpoint
        var replicas: [RedisEndpoint]
        var slots: [ClosedRange<Int>]
    }

    private(set) var shards: [Shard]
    /// Shard index per slot; -1 where no shard serves the slot.
    private var owners: [Int16]

    init(shards: [Shard]) {
        self.shards = shards
        self.owners = Array(repeating: -1, count: HashSlot.count)
        for (index, shard) in shards.enumerated() {
            for range in shard.slots {
                for slot in range.clamped(to: 0...(HashSlot.count - 1)) { self.owners[slot] = Int16(index) }
            }
        }
    }

    /// The primary serving `slot`, if any.
    func primary(for slot: HashSlot) -> RedisEndpoint? {
        let owner = Int(self.owners[Int(slot.rawValue)])
        return owner < 0 ? nil : self.shards[owner].primary
    }

    /// The replicas of the shard serving `slot`.
    func replicas(for slot: HashSlot) -> [RedisEndpoint] {
        let owner = Int(self.owners[Int(slot.rawValue)])
        return owner < 0 ? [] : self.shards[owner].replicas
    }

    /// Every primary that serves at least one slot.
    var primaries: [RedisEndpoint] { self.shards.filter { !$0.slots.isEmpty }.map(\.primary) }

    /// Every node named, primaries first.
    var allNodes: [RedisEndpoint] { self.primaries + self.shards.flatMap(\.replicas) }

    /// How many slots some shard serves.
    var coveredSlots: Int { self.owners.lazy.filter { $0 >= 0 }.count }

    /// Records a `MOVED` answer: `slot` is now served by `endpoint` (as primary; a new shard if it is unknown).
    mutating func move(_ slot: HashSlot, to endpoint: RedisEndpoint) {
        let index: Int
        if let known = self.shards.firstIndex(where: { $0.primary == endpoint }) {
            index = known
        } else {
            self.shards.append(Shard(primary: endpoint, replicas: [], slots: []))
            index = self.shards.count - 1
        }
        self.owners[Int(slot.rawValue)] = Int16(index)
    }

    // MARK: Parsing

    /// Parses `CLUSTER SHARDS`: a list of maps with `slots` (start/end pairs) and `nodes` (maps with `ip`,
    /// `endpoint`, `hostname`, `port`, `tls-port`, `role`, `health`). Nodes that are not `online` are left out.
    /// - Parameters:
    ///   - reply: The reply.
    ///   - tls: Whether to use each node's `tls-port`.
    ///   - answeredBy: The node that answered, for nodes that announce no usable address (`?` or empty).
    static func parse(shardsReply reply: RESPValue, tls: Bool, answeredBy: RedisEndpoint) throws -> ClusterTopology {
        guard let list = reply.elements else { throw Self.malformed("CLUSTER SHARDS", "not a list") }
        var shards: [Shard] = []
        for item in list {
            let fields = try Self.fields(item, "CLUSTER SHARDS")
            guard let slotValues = fields["slots"]?.elements, let nodes = fields["nodes"]?.elements else {
                throw Self.malformed("CLUSTER SHARDS", "a shard without slots or nodes")
            }
            let bounds = try slotValues.map { value -> Int in
                guard let number = value.integer else {
                    throw Self.malformed("CLUSTER SHARDS", "a slot that is not a number")
                }
                return number
            }
            guard bounds.count % 2 == 0 else { throw Self.malformed("CLUSTER SHARDS", "an odd slot list") }
            var ranges: [ClosedRange<Int>] = []
            for pair in stride(from: 0, to: bounds.count, by: 2) where bounds[pair] <= bounds[pair + 1] {
                ranges.append(bounds[pair]...bounds[pair + 1])
            }
            var primary: RedisEndpoint?
            var replicas: [RedisEndpoint] = []
            for node in nodes {
                let nodeFields = try Self.fields(node, "CLUSTER SHARDS")
                if let health = nodeFields["health"]?.text, health != "online" { continue }
                let portField = tls ? nodeFields["tls-port"] : nodeFields["port"]
                guard let port = portField?.integer ?? nodeFields["port"]?.integer, (1...65535).contains(port) else {
                    continue
                }
                let host = Self.usableHost([nodeFields["endpoint"]?.text, nodeFields["ip"]?.text]) ?? answeredBy.host
                let endpoint = RedisEndpoint(host: host, port: port)
                if nodeFields["role"]?.text == "master" {
                    primary = endpoint
                } else {
                    replicas.append(endpoint)
                }
            }
            guard let primary else { continue }  // a shard whose primary failed: its slots are uncovered for now
            shards.append(Shard(primary: primary, replicas: replicas, slots: ranges))
        }
        return ClusterTopology(shards: shards)
    }

    /// Parses `CLUSTER SLOTS`: a list of `[start, end, [host, port, id, ...], [replica...]...]`.
    static func parse(slotsReply reply: RESPValue, answeredBy: RedisEndpoint) throws -> ClusterTopology {
        guard let list = reply.elements else { throw Self.malformed("CLUSTER SLOTS", "not a list") }
        var shards: [Shard] = []
        for item in list {
            guard let parts = item.elements, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer
            else { throw Self.malformed("CLUSTER SLOTS", "a malformed slot range") }
            let nodes = try parts.dropFirst(2).map { node -> RedisEndpoint in
                guard let fields = node.elements, fields.count >= 2, let port = fields[1].integer else {
                    throw Self.malformed("CLUSTER SLOTS", "a malformed node")
                }
                return RedisEndpoint(host: Self.usableHost([fields[0].text]) ?? answeredBy.host, port: port)
            }
            let range = start...max(start, end)
            if let index = shards.firstIndex(where: { $0.primary == nodes[0] }) {
                shards[index].slots.append(range)
            } else {
                shards.append(Shard(primary: nodes[0], replicas: Array(nodes.dropFirst()), slots: [range]))
            }
        }
        return ClusterTopology(shards: shards)
    }

    private static func usableHost(_ candidates: [String?]) -> String? {
        candidates.lazy.compactMap { $0 }.first { !$0.isEmpty && $0 != "?" }
    }

    private static func fields(_ value: RESPValue, _ command: String) throws -> [String: RESPValue] {
        switch value {
        case .map(let entries):
            var fields: [String: RESPValue] = [:]
            for entry in entries { if let key = entry.key.text { fields[key] = entry.value } }
            return fields
        case .array(let flat) where flat.count % 2 == 0:
            var fields: [String: RESPValue] = [:]
            for pair in stride(from: 0, to: flat.count, by: 2) {
                if let key = flat[pair].text { fields[key] = flat[pair + 1] }
            }
            return fields
        default:
            throw Self.malformed(command, "an entry that is not a map")
        }
    }

    private static func malformed(_ command: String, _ what: String) -> RedisError {
        RedisError(.unexpectedReply, "\(command) reply: \(what)")
    }
}

extension RESPValue {
    /// The elements of an array or set.
    fileprivate var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values): values
        default: nil
        }
    }

    /// A number, or a string of digits.
    fileprivate var integer: Int? {
        switch self {
        case .number(let value): Int(exactly: value)
        case .simpleString, .blobString: self.text.flatMap { Int($0) }
        default: nil
        }
    }

    /// The text of a string reply.
    fileprivate var text: String? {
        switch self {
        case .simpleString(let buffer), .blobString(let buffer): String(buffer: buffer)
        case .verbatimString(_, let buffer): String(buffer: buffer)
        default: nil
        }
    }
}
