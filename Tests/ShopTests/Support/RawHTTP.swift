import NIOCore
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sends raw bytes to a live server and reads one response, for requests an HTTP client would not send.
enum RawHTTP {
    struct Response {
        var statusLine: String
        var headers: [String: String]
        var body: String
    }

    struct IncompleteResponse: Error {}

    static func exchange(port: Int, request: String) async throws -> Response {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received = ByteBuffer()
            for try await var chunk in inbound {
                received.writeBuffer(&chunk)
                if let response = parse(String(buffer: received)) {
                    return response
                }
            }
            throw IncompleteResponse()
        }
    }

    /// The response once the head and `Content-Length` bytes of body have arrived.
    private static func parse(_ text: String) -> Response? {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        let body = String(text[headEnd.upperBound...])
        guard let length = headers["content-length"].flatMap(Int.init), body.utf8.count >= length else { return nil }
        return Response(statusLine: lines[0], headers: headers, body: body)
    }
}
