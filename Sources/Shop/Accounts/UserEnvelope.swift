public import Hummingbird
import NIOCore

/// `{"data":<user>,"meta":{}}`, written straight into a buffer.
///
/// Byte for byte what `Envelope(data: UserResource(user))` gives through the API's `JSONEncoder` (sorted
/// keys, unescaped slashes), without the encoder's cost: `GET /api/v1/me` is the hottest authenticated route,
/// and the benchmark showed the generic encoder as its largest item after the Redis round trip. Anything
/// that would need escaping falls back to the encoder (a test compares both).
struct UserEnvelope: ResponseGenerator, Sendable {
    let user: UserResource

    init(_ user: AuthenticatedUser, points: Int64) {
        self.user = UserResource(user, points: points)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        guard let buffer = self.handWritten() else {
            return try Envelope(data: self.user).response(from: request, context: context)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(buffer.readableBytes)],
            body: .init(byteBuffer: buffer)
        )
    }

    /// The body, or nil when a member holds a character JSON would escape.
    func handWritten() -> ByteBuffer? {
        let members = [self.user.createdAt, self.user.email, self.user.id, self.user.role.rawValue]
        guard
            members.allSatisfy({ member in
                member.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
            })
        else { return nil }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(96 + members.reduce(0) { $0 + $1.utf8.count })
        buffer.writeStaticString(#"{"data":{"createdAt":""#)
        buffer.writeString(self.user.createdAt)
        buffer.writeStaticString(#"","email":""#)
        buffer.writeString(self.user.email)
        buffer.writeStaticString(#"","id":""#)
        buffer.writeString(self.user.id)
        buffer.writeStaticString(#"","points":"#)
        buffer.writeString(String(self.user.points))
        buffer.writeStaticString(#","role":""#)
        buffer.writeString(self.user.role.rawValue)
        buffer.writeStaticString(#""},"meta":{}}"#)
        return buffer
    }
}
