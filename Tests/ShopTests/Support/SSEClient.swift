import AsyncHTTPClient
import NIOCore
import Synchronization
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One Server-Sent Event as a client parses it.
struct SSEEvent: Sendable, Equatable {
    var id: String?
    var event: String?
    var data: String
}

/// An open `text/event-stream` response, read in the background; tests look at what arrived so far.
final class SSEStream: Sendable {
    let status: Int
    let contentType: String?
    private final class Received: Sendable {
        let state = Mutex<(events: [SSEEvent], comments: Int, ended: Bool)>(([], 0, false))
    }

    private let received = Received()
    private let reader: Task<Void, Never>

    /// Opens `path` on `port` with the session cookie (and `Last-Event-ID` when given).
    static func open(
        _ http: HTTPClient,
        port: Int,
        path: String = "/api/v1/notifications/stream",
        cookie: String?,
        lastEventID: String? = nil
    ) async throws -> SSEStream {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let cookie { request.headers.add(name: "Cookie", value: "\(sessionCookieName)=\(cookie)") }
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let response = try await http.execute(request, timeout: .hours(1))
        return SSEStream(response: response)
    }

    private init(response: HTTPClientResponse) {
        self.status = Int(response.status.code)
        self.contentType = response.headers["content-type"].first
        let received = self.received
        self.reader = Task {
            var pending = ""
            do {
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let range = pending.range(of: "\n\n") {
                        let block = String(pending[..<range.lowerBound])
                        pending = String(pending[range.upperBound...])
                        let parsed = Self.parse(block)
                        received.state.withLock { state in
                            if let event = parsed { state.events.append(event) } else { state.comments += 1 }
                        }
                    }
                }
            } catch {}
            received.state.withLock { $0.ended = true }
        }
    }

    /// One block of lines: an event, or nil for comments and the `retry` line.
    private static func parse(_ block: String) -> SSEEvent? {
        var event = SSEEvent(id: nil, event: nil, data: "")
        var hasData = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") { continue }
            if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") {
                event.data += String(line.dropFirst(6))
                hasData = true
            }
        }
        return hasData ? event : nil
    }

    var events: [SSEEvent] { self.received.state.withLock { $0.events } }
    var ids: [String] { self.events.compactMap(\.id) }
    var comments: Int { self.received.state.withLock { $0.comments } }
    var ended: Bool { self.received.state.withLock { $0.ended } }

    /// Waits (bounded) until `count` events arrived.
    func waitForEvents(_ count: Int, within limit: Duration = .seconds(15)) async throws -> [SSEEvent] {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let events = self.events
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("only \(self.events.count) of \(count) events arrived: \(self.ids)")
        return self.events
    }

    /// Waits (bounded) until the server ended the stream.
    func waitUntilEnded(within limit: Duration = .seconds(15)) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if self.ended { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.ended
    }

    /// Closes the connection.
    func close() async {
        self.reader.cancel()
        _ = await self.reader.value
    }
}
