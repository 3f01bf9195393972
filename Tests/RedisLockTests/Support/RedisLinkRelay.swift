import Foundation

#if canImport(Glibc)
    import Glibc

    private let streamSocket = Int32(SOCK_STREAM.rawValue)
    private let sendFlags = Int32(MSG_NOSIGNAL)
#else
    import Darwin

    private let streamSocket = SOCK_STREAM
    private let sendFlags: Int32 = 0
#endif

/// A TCP relay on a free loopback port between a Redis client and a redis-server. The test can make it hold
/// the server's replies (the server has run the command, the client does not know yet), then deliver them and
/// stall the link (nothing passes in either direction any more, connections stay open).
final class RedisLinkRelay: @unchecked Sendable {
    private struct Link {
        let client: Int32
        let server: Int32
        var heldReplies: [UInt8] = []
        var finishedPumps = 0
    }

    private enum Direction { case requests, replies }

    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var links: [Link] = []
    private var holdingReplies = false
    private var stalled = false
    private var heldBytes = 0
    private var closed = false

    private init(listener: Int32, port: Int, upstreamPort: Int) {
        self.listener = listener
        self.port = port
        self.upstreamPort = upstreamPort
    }

    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    /// Starts relaying connections on a free port to the server on `upstreamPort`.
    static func start(upstreamPort: Int) throws -> RedisLinkRelay {
        let listener = makeSocket()
        guard listener >= 0 else { throw ServerFailure("relay: socket() failed") }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            closeSocket(listener)
            throw ServerFailure("relay: bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let relay = RedisLinkRelay(
            listener: listener,
            port: Int(UInt16(bigEndian: address.sin_port)),
            upstreamPort: upstreamPort
        )
        Thread { relay.acceptLoop() }.start()
        return relay
    }

    /// From now on the server's replies are kept instead of passed on; requests still pass.
    func holdReplies() {
        self.lock.withLock { self.holdingReplies = true }
    }

    /// How many bytes of replies are being held.
    var heldReplyBytes: Int { self.lock.withLock { self.heldBytes } }

    /// Passes the held replies on, then stalls the link: from now on nothing passes in either direction.
    func deliverHeldRepliesThenStall() {
        self.lock.withLock {
            for index in self.links.indices {
                Self.sendAll(self.links[index].client, self.links[index].heldReplies[...])
                self.links[index].heldReplies = []
            }
            self.heldBytes = 0
            self.holdingReplies = false
            self.stalled = true
        }
    }

    /// Stops accepting and ends every relayed connection.
    func close() {
        self.lock.withLock {
            guard !self.closed else { return }
            self.closed = true
            shutdown(self.listener, Int32(SHUT_RDWR))
            // A link both of whose pumps stopped is closed already (its numbers may belong to others now).
            for link in self.links where link.finishedPumps < 2 {
                shutdown(link.client, Int32(SHUT_RDWR))
                shutdown(link.server, Int32(SHUT_RDWR))
            }
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(self.listener, nil, nil)
            guard client >= 0 else { break }
            #if canImport(Darwin)
                var on: Int32 = 1
                setsockopt(client, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
            #endif
            guard let server = Self.connect(port: self.upstreamPort) else {
                closeSocket(client)
                continue
            }
            let index = self.lock.withLock {
                self.links.append(Link(client: client, server: server))
                return self.links.count - 1
            }
            Thread { self.pump(index, .requests) }.start()
            Thread { self.pump(index, .replies) }.start()
        }
        closeSocket(self.listener)
    }

    private func pump(_ index: Int, _ direction: Direction) {
        let (source, destination) = self.lock.withLock {
            let link = self.links[index]
            return direction == .requests ? (link.client, link.server) : (link.server, link.client)
        }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            self.lock.withLock {
                if self.stalled { return }
                if direction == .replies && self.holdingReplies {
                    self.links[index].heldReplies.append(contentsOf: buffer[0..<count])
                    self.heldBytes += count
                    return
                }
                Self.sendAll(destination, buffer[0..<count])
            }
        }
        // One side went away: end the link both ways, and close it once both pumps have stopped using it.
        self.lock.withLock {
            shutdown(source, Int32(SHUT_RDWR))
            shutdown(destination, Int32(SHUT_RDWR))
            self.links[index].finishedPumps += 1
            if self.links[index].finishedPumps == 2 {
                closeSocket(self.links[index].client)
                closeSocket(self.links[index].server)
            }
        }
    }

    private static func connect(port: Int) -> Int32? {
        let fd = makeSocket()
        guard fd >= 0 else { return nil }
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connectSocket(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            closeSocket(fd)
            return nil
        }
        return fd
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Writes everything (never raising SIGPIPE when the peer is gone).
    private static func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) {
        var remaining = bytes
        while !remaining.isEmpty {
            let sent = remaining.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendFlags) }
            guard sent > 0 else { return }
            remaining = remaining.dropFirst(sent)
        }
    }
}

private func closeSocket(_ fd: Int32) {
    close(fd)
}

private func connectSocket(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

/// A new TCP socket that never raises SIGPIPE when written to after its peer left.
private func makeSocket() -> Int32 {
    let fd = socket(AF_INET, streamSocket, 0)
    #if canImport(Darwin)
        var on: Int32 = 1
        if fd >= 0 { setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size)) }
    #endif
    return fd
}
