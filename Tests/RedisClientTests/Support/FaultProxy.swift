import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP proxy between a client and a real `redis-server` that injects the faults networks have, on command.
///
/// Every accepted connection is paired with a fresh connection to the upstream server; bytes are forwarded
/// according to a ``Fault``. The fault set with ``setFault(_:)`` applies to every current connection and to
/// connections accepted later; ``setFault(_:connection:)`` changes one connection only, and
/// ``setFaultForNextConnection(_:)`` arms a fault for the next accepted connection only. Everything runs on one
/// event loop of the proxy's own, so the forwarding state needs no locks.
final class FaultProxy: Sendable {
    /// Which way bytes flow.
    enum Direction: Sendable, Hashable {
        /// From the client to the server (commands).
        case toServer
        /// From the server to the client (replies).
        case toClient
    }

    /// What happens to bytes in flight.
    enum Fault: Sendable, Hashable {
        /// Forward everything at once. Switching to `pass` releases what a `stall` or `delay` held, in order.
        case pass
        /// Forward every chunk after this long (order kept).
        case delay(Duration)
        /// Hold every byte in both directions and keep both connections open (a partition TCP would survive).
        case stall
        /// Discard the bytes going one way, forever; the other way passes (a half-open link).
        case blackhole(Direction)
        /// Discard the bytes going both ways, forever, keeping the connections open (a partition that never
        /// heals, or a NAT that forgot the connection).
        case blackholeBoth
        /// Forward this many more bytes going one way, then reset both connections.
        case dropAfter(bytes: Int, Direction)
    }

    /// How many client connections the proxy accepted, in total.
    var acceptedCount: Int { self.state.withLockedValue { $0.accepted } }
    /// How many proxied client connections are open now.
    var openCount: Int { self.state.withLockedValue { $0.open } }
    /// How many client connections the client closed itself (not the proxy, not the server).
    var closedByClientCount: Int { self.state.withLockedValue { $0.closedByClient } }

    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: any Channel
    private let links: Links
    private let state: NIOLockedValueBox<Counters>

    private struct Counters {
        var accepted = 0
        var open = 0
        var closedByClient = 0
    }

    private init(
        port: Int,
        group: MultiThreadedEventLoopGroup,
        serverChannel: any Channel,
        links: Links,
        state: NIOLockedValueBox<Counters>
    ) {
        self.port = port
        self.group = group
        self.serverChannel = serverChannel
        self.links = links
        self.state = state
    }

    /// Starts a proxy on a free loopback port in front of `127.0.0.1:upstreamPort`.
    static func start(upstreamPort: Int) async throws -> FaultProxy {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let links = Links(loop: loop, upstreamPort: upstreamPort)
        let state = NIOLockedValueBox(Counters())
        links.onEvent = { event in
            state.withLockedValue { counters in
                switch event {
                case .accepted:
                    counters.accepted += 1
                    counters.open += 1
                case .closed(let byClient):
                    counters.open -= 1
                    if byClient { counters.closedByClient += 1 }
                }
            }
        }
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(links.accept(channel))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = server.localAddress?.port ?? 0
        return FaultProxy(port: port, group: group, serverChannel: server, links: links, state: state)
    }

    /// The URL a client uses to reach the server through the proxy.
    var url: String { "redis://127.0.0.1:\(self.port)/0" }

    /// Applies `fault` to every open connection and to every connection accepted from now on.
    func setFault(_ fault: Fault) async {
        await self.onLoop { $0.setFault(fault) }
    }

    /// Applies `fault` to one connection, numbered from 0 in the order the proxy accepted them.
    func setFault(_ fault: Fault, connection index: Int) async {
        await self.onLoop { $0.setFault(fault, connection: index) }
    }

    /// Applies `fault` to the next connection accepted (only that one); later ones get the proxy-wide fault.
    func setFaultForNextConnection(_ fault: Fault) async {
        await self.onLoop { $0.nextConnectionFault = fault }
    }

    /// Resets (RST) every open connection, both sides. New connections are still accepted.
    func cutAll() async {
        await self.onLoop { $0.cutAll() }
    }

    /// Stops accepting, resets every connection and stops the proxy's event loop.
    func stop() async {
        await self.cutAll()
        try? await self.serverChannel.close()
        try? await self.group.shutdownGracefully()
    }

    private func onLoop(_ body: @escaping @Sendable (Links) -> Void) async {
        let links = self.links
        try? await self.links.loop.submit { body(links) }.get()
    }
}

/// Every proxied connection pair; touched only on the proxy's event loop.
private final class Links: @unchecked Sendable {
    enum Event {
        case accepted
        case closed(byClient: Bool)
    }

    let loop: any EventLoop
    let upstreamPort: Int
    var onEvent: @Sendable (Event) -> Void = { _ in }
    var fault: FaultProxy.Fault = .pass
    var nextConnectionFault: FaultProxy.Fault?
    private var all: [Link] = []

    init(loop: any EventLoop, upstreamPort: Int) {
        self.loop = loop
        self.upstreamPort = upstreamPort
    }

    func accept(_ client: any Channel) -> LinkHandler {
        let fault = self.nextConnectionFault ?? self.fault
        self.nextConnectionFault = nil
        let link = Link(client: client, fault: fault, links: self)
        self.all.append(link)
        self.onEvent(.accepted)
        ClientBootstrap(group: self.loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LinkHandler(link: link, side: .server))
                }
            }
            .connect(host: "127.0.0.1", port: self.upstreamPort)
            .whenComplete { result in
                switch result {
                case .success(let server): link.serverConnected(server)
                case .failure: link.reset(initiatedByClient: false)
                }
            }
        return LinkHandler(link: link, side: .client)
    }

    func setFault(_ fault: FaultProxy.Fault) {
        self.fault = fault
        for link in self.all { link.setFault(fault) }
    }

    func setFault(_ fault: FaultProxy.Fault, connection index: Int) {
        guard self.all.indices.contains(index) else { return }
        self.all[index].setFault(fault)
    }

    func cutAll() {
        for link in self.all { link.reset(initiatedByClient: false) }
    }

    func closed(byClient: Bool) {
        self.onEvent(.closed(byClient: byClient))
    }
}

/// One client connection and its upstream connection.
private final class Link: @unchecked Sendable {
    enum Side { case client, server }

    let client: any Channel
    private var server: (any Channel)?
    private var fault: FaultProxy.Fault
    private unowned let links: Links
    /// Bytes held by a stall or a delay, per direction, in arrival order.
    private var held: [FaultProxy.Direction: [(ByteBuffer, NIODeadline)]] = [:]
    /// Bytes still allowed through by `dropAfter`.
    private var allowance: Int?
    private var isClosed = false
    private var drainScheduled = false

    init(client: any Channel, fault: FaultProxy.Fault, links: Links) {
        self.client = client
        self.fault = fault
        self.links = links
        self.resetAllowance()
    }

    func serverConnected(_ server: any Channel) {
        guard !self.isClosed else {
            server.close(promise: nil)
            return
        }
        self.server = server
        self.drain()
    }

    func setFault(_ fault: FaultProxy.Fault) {
        self.fault = fault
        self.resetAllowance()
        switch fault {
        case .blackhole, .blackholeBoth:
            self.held = [:]
        default:
            break
        }
        self.drain()
    }

    private func resetAllowance() {
        if case .dropAfter(let bytes, _) = self.fault { self.allowance = bytes } else { self.allowance = nil }
    }

    /// Bytes read on one side, to go to the other.
    func received(_ bytes: ByteBuffer, from side: Side) {
        guard !self.isClosed else { return }
        let direction: FaultProxy.Direction = side == .client ? .toServer : .toClient
        switch self.fault {
        case .blackholeBoth:
            return
        case .blackhole(let dropped) where dropped == direction:
            return
        case .dropAfter(_, let limited) where limited == direction:
            var bytes = bytes
            let allowed = min(self.allowance ?? 0, bytes.readableBytes)
            self.allowance = (self.allowance ?? 0) - allowed
            if allowed > 0, let slice = bytes.readSlice(length: allowed) {
                self.hold(slice, direction, until: .now())
            }
            self.drain()
            if bytes.readableBytes > 0 { self.reset(initiatedByClient: false) }
            return
        case .delay(let duration):
            let (seconds, attoseconds) = duration.components
            let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
            self.hold(bytes, direction, until: .now() + .nanoseconds(nanoseconds))
        default:
            self.hold(bytes, direction, until: .now())
        }
        self.drain()
    }

    private func hold(_ bytes: ByteBuffer, _ direction: FaultProxy.Direction, until deadline: NIODeadline) {
        self.held[direction, default: []].append((bytes, deadline))
    }

    /// Forwards what is due, unless stalled; schedules itself for what a delay still holds.
    private func drain() {
        guard !self.isClosed, let server = self.server else { return }
        if case .stall = self.fault { return }
        let now = NIODeadline.now()
        var nextDue: NIODeadline?
        for direction in [FaultProxy.Direction.toServer, .toClient] {
            guard var queue = self.held[direction], !queue.isEmpty else { continue }
            let target = direction == .toServer ? server : self.client
            var wrote = false
            while let first = queue.first {
                let due = self.isDelayed ? first.1 : now
                if due > now {
                    nextDue = min(nextDue ?? due, due)
                    break
                }
                target.write(first.0, promise: nil)
                wrote = true
                queue.removeFirst()
            }
            if wrote { target.flush() }
            self.held[direction] = queue
        }
        if let nextDue, !self.drainScheduled {
            self.drainScheduled = true
            self.client.eventLoop.scheduleTask(deadline: nextDue) {
                self.drainScheduled = false
                self.drain()
            }
        }
    }

    private var isDelayed: Bool {
        if case .delay = self.fault { return true }
        return false
    }

    /// One side closed on its own: close the other side too.
    func sideClosed(_ side: Side) {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.held = [:]
        if side == .client {
            self.server?.close(promise: nil)
        } else {
            self.client.close(promise: nil)
        }
        self.links.closed(byClient: side == .client)
    }

    /// Closes both sides with a TCP reset (SO_LINGER 0), as a crashed middlebox or peer would.
    func reset(initiatedByClient: Bool) {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.held = [:]
        for channel in [self.client, self.server].compactMap({ $0 }) {
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
        self.links.closed(byClient: initiatedByClient)
    }
}

/// Reads one side of a link.
private final class LinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let link: Link
    private let side: Link.Side

    init(link: Link, side: Link.Side) {
        self.link = link
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.link.received(self.unwrapInboundIn(data), from: self.side)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.link.sideClosed(self.side)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
