import NIOCore
import Synchronization

/// Where this instance's HTTP server can be reached on this machine: the configured loopback host (or
/// `127.0.0.1` for a wildcard bind) and the port — configured, or learned once the server is bound when
/// `HTTP_PORT` is 0 (tests).
///
/// The service uses it to name itself (the payment provider's default callback URL) instead of trusting the
/// request's `Host`, whose port a caller chooses.
final class ListeningAddress: Sendable {
    /// The host to reach the server on, or nil when it is bound to one non-loopback address only.
    let host: String?
    private let boundPort: Atomic<Int>

    /// - Parameters:
    ///   - httpHost: `HTTP_HOST`.
    ///   - httpPort: `HTTP_PORT` (0 until the server is bound).
    init(httpHost: String, httpPort: Int) {
        if ShopConfiguration.isLoopback(httpHost) {
            self.host = httpHost.contains(":") ? "[\(httpHost)]" : httpHost
        } else if ["0.0.0.0", "::", "0:0:0:0:0:0:0:0"].contains(httpHost) {
            self.host = "127.0.0.1"
        } else {
            self.host = nil
        }
        self.boundPort = Atomic(httpPort)
    }

    /// Records the port the server bound (for `HTTP_PORT=0`); from `Application`'s `onServerRunning`.
    func serverRunning(_ channel: any Channel) {
        if let port = channel.localAddress?.port, port > 0 { self.boundPort.store(port, ordering: .releasing) }
    }

    /// The port the server listens on; 0 until it is bound when `HTTP_PORT` is 0.
    var port: Int { self.boundPort.load(ordering: .acquiring) }

    /// `http://<host>:<port>`, or nil while the port is unknown or there is no loopback host.
    var loopbackURL: String? {
        let port = self.port
        guard let host = self.host, port > 0 else { return nil }
        return "http://\(host):\(port)"
    }
}
