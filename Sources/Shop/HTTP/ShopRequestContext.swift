public import Hummingbird
public import Logging
public import NIOCore
public import RedisSessions

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The request context of every route of the service.
public struct ShopRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id (`X-Request-Id`), set by ``ProblemMiddleware`` before any handler runs.
    public var requestID: String
    /// The session the request's cookie named, loaded by the session middleware (see `Accounts/`).
    public var sessions: SessionContext<AuthenticatedUser>
    /// The socket's peer (nil in router tests without a socket).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.sessions = SessionContext()
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Bodies larger than this are refused with `413 PAYLOAD_TOO_LARGE`.
    public var maxUploadSize: Int { HTTPLimits.maxBodySize }

    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
    public var requestDecoder: JSONDecoder { JSONCoding.decoder }
}

/// Limits every endpoint shares.
public enum HTTPLimits {
    /// 1 MiB: the largest request body accepted.
    public static let maxBodySize = 1 << 20
}

/// The JSON settings of the API: sorted keys, unescaped slashes, RFC 3339 dates.
enum JSONCoding {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
