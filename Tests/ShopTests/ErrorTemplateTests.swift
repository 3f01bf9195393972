import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A body that exists only in tests, to exercise JSON decoding and validation.
struct EchoInput: Decodable, Sendable {
    var name: String
    var quantity: Int
    var tags: [String]?
}

struct EchoOutput: Codable, Sendable, Equatable {
    var name: String
    var quantity: Int
}

struct SecretFailure: Error, CustomStringConvertible {
    var description: String { "connection to 10.1.2.3 failed: password=hunter2 SELECT * FROM users" }
}

/// Routes that exist only in these tests (the service has no write endpoint yet).
let testRoutes: @Sendable (RegisteringRouter<ShopRequestContext>) -> Void = { router in
    router.post("/test/echo") { request, context in
        let input = try await request.decodeJSON(as: EchoInput.self, context: context)
        var validator = Validator()
        validator.require(!input.name.isEmpty, field: "name", code: .tooShort, message: "must not be empty")
        validator.require(input.quantity > 0, field: "quantity", code: .outOfRange, message: "must be at least 1")
        for (index, tag) in (input.tags ?? []).enumerated() {
            validator.require(tag.count <= 10, field: "tags[\(index)]", code: .tooLong, message: "must be at most 10")
        }
        try validator.throwIfInvalid()
        return Envelope(data: EchoOutput(name: input.name, quantity: input.quantity))
    }
    router.get("/test/boom") { _, _ -> String in
        throw SecretFailure()
    }
    router.get("/test/conflict") { _, _ -> String in
        throw HTTPError(.conflict, message: "The product changed meanwhile.")
    }
    router.get("/test/teapot") { _, _ -> String in
        throw HTTPError(HTTPResponse.Status(code: 418, reasonPhrase: "I'm a teapot"))
    }
    router.get("/test/bad-gateway") { _, _ -> String in
        throw HTTPError(.badGateway, message: "upstream 10.0.0.7 said no")
    }
    router.put("/test/echo") { _, _ in
        Envelope(data: EchoOutput(name: "put", quantity: 1))
    }
}

private let json: HTTPFields = [.contentType: "application/json"]

@Suite("Error template")
struct ErrorTemplateTests {
    @Test("unknown route: 404 NOT_FOUND")
    func unknownRoute() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/api/v1/nothing?x=1", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try response.problem()
                #expect(problem.code == "NOT_FOUND")
                #expect(problem.title == "Not Found")
                #expect(problem.instance == "/api/v1/nothing")
                #expect(problem.detail == "No route matches GET /api/v1/nothing.")
                #expect(problem.errors == nil)
            }
        }
    }

    @Test("known path, wrong method: 405 METHOD_NOT_ALLOWED with Allow")
    func wrongMethod() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            try await client.execute(uri: "/api/v1/products", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD, POST")
                let problem = try response.problem()
                #expect(problem.code == "METHOD_NOT_ALLOWED")
                #expect(problem.detail == "DELETE is not allowed on /api/v1/products; allowed: GET, HEAD, POST.")
            }
            // A parameterised path: any id has GET (and PUT, DELETE for admins).
            try await client.execute(uri: "/api/v1/products/anything", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "DELETE, GET, HEAD, PUT")
            }
            // Several methods on one path are all listed, sorted.
            try await client.execute(uri: "/test/echo", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST, PUT")
                let problem = try response.problem()
                #expect(problem.code == "METHOD_NOT_ALLOWED")
            }
            // One segment more is another path: 404, not 405.
            try await client.execute(uri: "/api/v1/products/a/b", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("body over 1 MiB by Content-Length: 413 PAYLOAD_TOO_LARGE")
    func payloadTooLargeByLength() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: " "), count: HTTPLimits.maxBodySize + 1)
            try await client.execute(uri: "/test/echo", method: .post, headers: json, body: body) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try response.problem()
                #expect(problem.code == "PAYLOAD_TOO_LARGE")
                #expect(problem.instance == "/test/echo")
            }
            // Exactly 1 MiB is accepted as far as size goes (and then fails as the JSON it is not).
            let limit = ByteBuffer(repeating: UInt8(ascii: " "), count: HTTPLimits.maxBodySize)
            try await client.execute(uri: "/test/echo", method: .post, headers: json, body: limit) { response in
                #expect(response.status == .badRequest)
                let problem = try response.problem()
                #expect(problem.code == "MALFORMED_JSON")
            }
            // The limit holds on routes that never read a body too, and on unknown routes.
            try await client.execute(uri: "/nothing", method: .put, headers: json, body: body) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try response.problem()
                #expect(problem.code == "PAYLOAD_TOO_LARGE")
            }
        }
    }

    @Test("body over 1 MiB streamed without Content-Length: 413 PAYLOAD_TOO_LARGE")
    func payloadTooLargeStreamed() async throws {
        try await withTestApp(.live, extraRoutes: testRoutes) { client in
            let port = try #require(client.port)
            let chunk = String(repeating: " ", count: 64 * 1024)
            var request = "POST /test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            request += "Transfer-Encoding: chunked\r\nX-Request-Id: streamed-1\r\n\r\n"
            for _ in 0..<17 {  // 17 × 64 KiB = 1.06 MiB
                request += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"
            }
            request += "0\r\n\r\n"
            let response = try await RawHTTP.exchange(port: port, request: request)
            #expect(response.statusLine.hasPrefix("HTTP/1.1 413 "))
            #expect(response.headers["content-type"] == "application/problem+json")
            #expect(response.headers["x-request-id"] == "streamed-1")
            #expect(response.body.contains(#""code":"PAYLOAD_TOO_LARGE""#))
            #expect(response.body.contains(#""traceId":"streamed-1""#))
        }
    }

    @Test("wrong or missing content type: 415 UNSUPPORTED_MEDIA_TYPE")
    func unsupportedMediaType() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            let body = ByteBuffer(string: #"{"name":"a","quantity":1}"#)
            try await client.execute(
                uri: "/test/echo",
                method: .post,
                headers: [.contentType: "text/plain"],
                body: body
            ) { response in
                #expect(response.status == .unsupportedMediaType)
                let problem = try response.problem()
                #expect(problem.code == "UNSUPPORTED_MEDIA_TYPE")
                #expect(problem.detail == "Expected Content-Type application/json, got text/plain.")
            }
            try await client.execute(uri: "/test/echo", method: .post, body: body) { response in
                #expect(response.status == .unsupportedMediaType)
                let problem = try response.problem()
                #expect(problem.detail == "Expected Content-Type application/json, got none.")
            }
            // application/json with parameters, and +json types, are JSON.
            for contentType in ["application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"] {
                try await client.execute(
                    uri: "/test/echo",
                    method: .post,
                    headers: [.contentType: contentType],
                    body: body
                ) { response in
                    #expect(response.status == .ok, "\(contentType)")
                }
            }
        }
    }

    @Test("malformed JSON: 400 MALFORMED_JSON", arguments: ["{", "{\"name\": }", "not json", "", "[1,2", "\u{FF}"])
    func malformedJSON(body: String) async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            try await client.execute(
                uri: "/test/echo",
                method: .post,
                headers: json,
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                let problem = try response.problem()
                #expect(problem.code == "MALFORMED_JSON")
            }
        }
    }

    @Test("validation: 422 VALIDATION_FAILED listing every field")
    func validationFailed() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            let invalid = #"{"name":"","quantity":0,"tags":["ok","far too long a tag"]}"#
            try await client.execute(
                uri: "/test/echo",
                method: .post,
                headers: json,
                body: ByteBuffer(string: invalid)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let problem = try response.problem()
                #expect(problem.code == "VALIDATION_FAILED")
                #expect(problem.title == "Validation Failed")
                #expect(problem.detail == "The request body has 3 invalid fields.")
                #expect(
                    problem.errors == [
                        FieldError(field: "name", code: .tooShort, message: "must not be empty"),
                        FieldError(field: "quantity", code: .outOfRange, message: "must be at least 1"),
                        FieldError(field: "tags[1]", code: .tooLong, message: "must be at most 10"),
                    ]
                )
            }
            // A missing member, a null and a wrong type are 422 too, naming the field.
            let cases: [(String, String, String)] = [
                (#"{"quantity":1}"#, "name", "REQUIRED"),
                (#"{"name":null,"quantity":1}"#, "name", "REQUIRED"),
                (#"{"name":"a","quantity":"1"}"#, "quantity", "INVALID_TYPE"),
                (#"{"name":"a","quantity":1,"tags":[1]}"#, "tags[0]", "INVALID_TYPE"),
                (#"[]"#, "(root)", "INVALID_TYPE"),
            ]
            for (body, field, code) in cases {
                try await client.execute(
                    uri: "/test/echo",
                    method: .post,
                    headers: json,
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(body)")
                    let problem = try response.problem()
                    #expect(problem.code == "VALIDATION_FAILED")
                    #expect(problem.errors?.map(\.field) == [field], "\(body)")
                    #expect(problem.errors?.map(\.code) == [code], "\(body)")
                }
            }
            // And a valid body passes, in the success template.
            try await client.execute(
                uri: "/test/echo",
                method: .post,
                headers: json,
                body: ByteBuffer(string: #"{"name":"mug","quantity":2}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.text == #"{"data":{"name":"mug","quantity":2},"meta":{}}"#)
            }
        }
    }

    @Test("unexpected error: 500 INTERNAL_ERROR without internals")
    func internalError() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            for uri in ["/test/boom", "/test/bad-gateway"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .internalServerError)
                    let problem = try response.problem()
                    #expect(problem.code == "INTERNAL_ERROR")
                    #expect(problem.detail == "An unexpected error occurred. Quote the traceId when reporting it.")
                    for secret in ["hunter2", "10.1.2.3", "SELECT", "SecretFailure", "10.0.0.7"] {
                        #expect(!response.text.contains(secret))
                    }
                }
            }
        }
    }

    @Test("Hummingbird's HTTPError is mapped into the template")
    func httpErrorMapping() async throws {
        try await withTestApp(extraRoutes: testRoutes) { client in
            try await client.execute(uri: "/test/conflict", method: .get) { response in
                #expect(response.status == .conflict)
                let problem = try response.problem()
                #expect(problem.code == "CONFLICT")
                #expect(problem.detail == "The product changed meanwhile.")
            }
            try await client.execute(uri: "/test/teapot", method: .get) { response in
                #expect(response.status.code == 418)
                let problem = try response.problem()
                #expect(problem.code == "HTTP_ERROR")
                #expect(problem.title == "I'm a teapot")
            }
        }
    }

    @Test("X-Request-Id is echoed when sane and generated otherwise, on every response")
    func requestID() async throws {
        try await withTestApp { client in
            try await client.execute(
                uri: "/health/live",
                method: .get,
                headers: [.xRequestID: "client-req.42:a_b"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.xRequestID] == "client-req.42:a_b")
            }
            try await client.execute(uri: "/nothing", method: .get, headers: [.xRequestID: "abc-123"]) { response in
                #expect(response.headers[.xRequestID] == "abc-123")
                let problem = try response.problem()
                #expect(problem.traceId == "abc-123")
            }
            let insane = ["has space", String(repeating: "a", count: 129), "semi;colon", "new\u{7F}line", "ünicode"]
            var generated: Set<String> = []
            for value in insane {
                try await client.execute(uri: "/nothing", method: .get, headers: [.xRequestID: value]) { response in
                    let id = try #require(response.headers[.xRequestID])
                    #expect(id != value)
                    #expect(UUID(uuidString: id) != nil)
                    let problem = try response.problem()
                    #expect(problem.traceId == id)
                    generated.insert(id)
                }
            }
            #expect(generated.count == insane.count)
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(UUID(uuidString: response.headers[.xRequestID] ?? "") != nil)
            }
            // 128 characters is the longest accepted.
            let longest = String(repeating: "b", count: 128)
            try await client.execute(uri: "/health/live", method: .get, headers: [.xRequestID: longest]) { response in
                #expect(response.headers[.xRequestID] == longest)
            }
        }
    }
}
