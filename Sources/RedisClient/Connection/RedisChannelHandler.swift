import NIOCore

/// The NIO side of a connection: decodes replies as bytes arrive and hands them to the connection in batches.
///
/// All state about requests lives in ``RequestQueue`` (owned by ``RedisConnection``); this handler only owns the
/// decoder and the bytes of a reply that has not fully arrived.
final class RedisChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var decoder: RESPDecoder
    private var cumulation: ByteBuffer?
    private var decoded: [RESPValue] = []
    private let sink: any RedisReplySink

    init(limits: RESPDecoder.Limits, sink: any RedisReplySink) {
        self.decoder = RESPDecoder(limits: limits)
        self.sink = sink
        self.decoded.reserveCapacity(16)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if var buffered = self.cumulation {
            self.cumulation = nil
            buffered.writeBuffer(&incoming)
            incoming = buffered
        }
        do {
            while let value = try self.decoder.decode(from: &incoming) {
                self.decoded.append(value)
            }
        } catch {
            self.deliverDecoded()
            self.sink.protocolViolation(error)
            context.close(promise: nil)
            return
        }
        if incoming.readableBytes > 0 {
            // Keep the partial reply; compact once most of the buffer has been consumed.
            if incoming.readerIndex > 64 * 1024 && incoming.readerIndex > incoming.readableBytes {
                incoming.discardReadBytes()
            }
            self.cumulation = incoming
        }
        self.deliverDecoded()
    }

    private func deliverDecoded() {
        guard !self.decoded.isEmpty else { return }
        self.sink.received(self.decoded)
        self.decoded.removeAll(keepingCapacity: self.decoded.count <= 256)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cumulation = nil
        self.sink.closed(error: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.sink.closed(error: error)
        context.close(promise: nil)
    }
}

/// Where the channel handler delivers what it decoded.
protocol RedisReplySink: AnyObject, Sendable {
    /// Complete top-level values, in the order they arrived.
    func received(_ values: [RESPValue])
    /// The server sent malformed bytes; the channel is being closed.
    func protocolViolation(_ error: RESPDecodingError)
    /// The channel closed, or failed with `error`.
    func closed(error: (any Error)?)
}
