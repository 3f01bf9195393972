/// What a cluster node's error reply asks the client to do instead.
enum ClusterRedirection: Sendable, Equatable {
    /// `MOVED <slot> <host:port>`: the slot lives elsewhere now; update the map and send there.
    case moved(HashSlot, RedisEndpoint)
    /// `ASK <slot> <host:port>`: the slot is being migrated; send this one command there, after `ASKING`.
    case ask(HashSlot, RedisEndpoint)
    /// `TRYAGAIN` (a multi-key command during a migration) or `CLUSTERDOWN` (no node serves the slot for now): wait,
    /// then send again.
    case retryLater

    /// The redirection an error asks for, if it is one; `answeredBy` fills in a host the reply leaves empty.
    init?(_ error: RedisError, answeredBy: RedisEndpoint) {
        guard let prefix = error.serverErrorPrefix else { return nil }
        switch prefix {
        case "TRYAGAIN", "CLUSTERDOWN":
            self = .retryLater
        case "MOVED", "ASK":
            let parts = error.message.split(separator: " ")
            guard parts.count >= 3, let number = Int(parts[1]), let slot = HashSlot(rawValue: number),
                let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            var host = String(parts[2][..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let endpoint = RedisEndpoint(host: host.isEmpty ? answeredBy.host : host, port: port)
            self = prefix == "MOVED" ? .moved(slot, endpoint) : .ask(slot, endpoint)
        default:
            return nil
        }
    }
}
