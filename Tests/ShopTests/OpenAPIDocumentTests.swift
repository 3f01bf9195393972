import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The OpenAPI document (`Sources/Shop/HTTP/openapi.json`, linked from `docs/api/openapi.json`) is written by hand;
/// these tests keep it and the router in step, and keep it internally consistent. Every response of the service
/// tests is also checked against it (``OpenAPIConformance``, through the test support's HTTP helpers).
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static func document() throws -> JSONValue {
        try #require(OpenAPIConformance.document, "\(OpenAPIConformance.loaded.error)")
    }

    /// The routes the application registers, as `METHOD /path/{param}`, without the generated `HEAD`s.
    static func registeredRoutes() throws -> Set<String> {
        let registry = Mutex<RouteRegistry?>(nil)
        // Built, never run: nothing connects to the (unused) database address.
        let configuration = try testConfiguration(database: DatabaseURL("postgres://shop:shop@127.0.0.1:1/unused"))
        _ = buildApplication(
            configuration: configuration,
            logger: TestServers.logger,
            options: ApplicationOptions(extraRoutes: { routes in registry.withLock { $0 = routes.registry } })
        )
        let routes = try #require(registry.withLock { $0 }).registeredRoutes
        return Set(routes.map { "\($0.method) \($0.path)" })
    }

    /// The operations the document lists, as `METHOD /path/{param}`.
    static func documentedRoutes(_ document: JSONValue) -> Set<String> {
        var routes = Set<String>()
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for method in ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
            where item[method] != nil {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    @Test("every route the router registers is in the document, and the document names no other")
    func routesMatch() throws {
        let registered = try Self.registeredRoutes()
        let documented = Self.documentedRoutes(try Self.document())
        let missing = registered.subtracting(documented).sorted()
        let unknown = documented.subtracting(registered).sorted()
        #expect(missing.isEmpty, "registered routes missing from Sources/Shop/HTTP/openapi.json: \(missing)")
        #expect(unknown.isEmpty, "routes in Sources/Shop/HTTP/openapi.json that the router does not have: \(unknown)")
        #expect(registered.count > 30)
    }

    @Test("GET /openapi.json serves the document, and docs/api/openapi.json is the same file")
    func served() async throws {
        let canonical = try Data(contentsOf: OpenAPIConformance.documentURL)
        let linked = try Data(
            contentsOf: OpenAPIConformance.root.appendingPathComponent("docs/api/openapi.json")
        )
        #expect(linked == canonical, "docs/api/openapi.json must be Sources/Shop/HTTP/openapi.json (a symlink)")
        try await withTestApp { client in
            let response = try await client.executeRequest(uri: "/openapi.json", method: .get, headers: [:], body: nil)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(Data(buffer: response.body) == canonical)
            let head = try await client.executeRequest(uri: "/openapi.json", method: .head, headers: [:], body: nil)
            #expect(head.status == .ok)
        }
    }

    @Test("the document is OpenAPI 3.1 and every $ref in it resolves")
    func references() throws {
        let document = try Self.document()
        #expect(document["openapi"] == .string("3.1.0"))
        let validator = JSONSchemaValidator(document: document)
        var unresolved: [String] = []
        Self.walk(document, path: "#") { value, path in
            if let reference = value["$ref"]?.stringValue, validator.resolve(reference) == nil {
                unresolved.append("\(path): \(reference)")
            }
        }
        #expect(unresolved.isEmpty, "\(unresolved)")
    }

    @Test("every example in the document matches its schema")
    func examples() throws {
        let document = try Self.document()
        let validator = JSONSchemaValidator(document: document)
        var checked = 0
        var problems: [String] = []
        Self.walk(document, path: "#") { value, path in
            // Media types, parameters and headers carry `example` beside `schema`.
            guard let example = value["example"], let schema = value["schema"] else { return }
            // A header or parameter example is text; a text media type's schema is a string.
            checked += 1
            let isParameterOrHeader = value["in"] != nil || path.contains("/headers/")
            if isParameterOrHeader, schema["type"]?.stringValue == "integer", case .string(let text) = example {
                problems += validator.validate(
                    Int64(text).map(JSONValue.integer) ?? example,
                    against: schema,
                    schemaPath: path + "/schema"
                ).map { "\(path)/example: \($0)" }
                return
            }
            problems += validator.validate(example, against: schema, schemaPath: path + "/schema").map {
                "\(path)/example: \($0)"
            }
        }
        #expect(checked > 20)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("the problem codes the document names are the service's")
    func problemCodes() throws {
        let document = try Self.document()
        var named = Set<String>()
        Self.walk(document, path: "#") { value, _ in
            guard let code = value["properties"]?["code"] else { return }
            if let constant = code["const"]?.stringValue { named.insert(constant) }
            for option in code["enum"]?.arrayValue ?? [] { if let text = option.stringValue { named.insert(text) } }
        }
        let fieldCodes = ["REQUIRED", "INVALID_TYPE", "INVALID_FORMAT", "OUT_OF_RANGE", "TOO_SHORT", "TOO_LONG"]
        let known = Set(ErrorCode.all.map(\.rawValue) + fieldCodes)
        #expect(named.subtracting(known).isEmpty, "unknown codes: \(named.subtracting(known).sorted())")
        // The codes a client of these routes can see are all documented somewhere.
        let expected = Set(ErrorCode.all.map(\.rawValue)).subtracting([
            "BAD_REQUEST", "REQUEST_TIMEOUT", "INTERNAL_ERROR",
        ])
        #expect(
            expected.subtracting(named).isEmpty,
            "codes no response documents: \(expected.subtracting(named).sorted())"
        )
    }

    @Test("the conformance check accepts documented answers and names route, status and schema path otherwise")
    func conformanceCheck() throws {
        let json = [
            (name: "Content-Type", value: "application/json; charset=utf-8"), (name: "X-Request-Id", value: "t-1"),
        ]
        let product =
            #"{"data":{"currency":"USD","description":"","id":"0b5c4b1e-7d1f-4c55-9f4e-000000000004","name":"Mug","price":"12.50","stock":10,"updatedAt":"2026-01-01T00:00:00Z"},"meta":{}}"#
        #expect(
            OpenAPIConformance.check(
                method: "GET",
                uri: "/api/v1/products/0b5c4b1e-7d1f-4c55-9f4e-000000000004?currency=",
                status: 200,
                headers: json,
                body: Array(product.utf8)
            ) == []
        )
        // HEAD: the GET's status, no body.
        #expect(
            OpenAPIConformance.check(method: "HEAD", uri: "/api/v1/products", status: 200, headers: json, body: [])
                == []
        )
        let badPrice = product.replacingOccurrences(of: #""12.50""#, with: #""12.5""#)
        let problems = OpenAPIConformance.check(
            method: "GET",
            uri: "/api/v1/products/0b5c4b1e-7d1f-4c55-9f4e-000000000004",
            status: 200,
            headers: json,
            body: Array(badPrice.utf8)
        )
        #expect(problems.count == 1)
        #expect(problems.first?.contains("GET /api/v1/products/{id} 200") == true)
        let undocumented = OpenAPIConformance.check(
            method: "GET",
            uri: "/api/v1/me",
            status: 409,
            headers: json,
            body: Array(#"{}"#.utf8)
        )
        #expect(undocumented.first?.contains("answered 409, which the document does not list") == true)
        let missingHeader = OpenAPIConformance.check(
            method: "GET",
            uri: "/health/live",
            status: 200,
            headers: [(name: "Content-Type", value: "application/json")],
            body: Array(#"{"data":{"instance":"a","status":"up"},"meta":{}}"#.utf8)
        )
        #expect(missingHeader.first?.contains("X-Request-Id is missing") == true)
        let wrongMediaType = OpenAPIConformance.check(
            method: "GET",
            uri: "/health/live",
            status: 200,
            headers: [(name: "Content-Type", value: "text/html"), (name: "X-Request-Id", value: "t-1")],
            body: Array("<p>".utf8)
        )
        #expect(wrongMediaType.first?.contains("Content-Type text/html is not one of application/json") == true)
        // A route the document does not have: only the error template is checked.
        let problem =
            #"{"code":"NOT_FOUND","detail":"No route.","instance":"/x","status":404,"title":"Not Found","traceId":"t-1","type":"urn:redis-jobs:problem:not-found"}"#
        let problemHeaders = [
            (name: "Content-Type", value: "application/problem+json"), (name: "X-Request-Id", value: "t-1"),
        ]
        #expect(
            OpenAPIConformance.check(
                method: "GET",
                uri: "/x",
                status: 404,
                headers: problemHeaders,
                body: Array(problem.utf8)
            )
                == []
        )
        // A method the path does not have: the generic 405 (with Allow).
        let notAllowed = problem.replacingOccurrences(of: "NOT_FOUND", with: "METHOD_NOT_ALLOWED")
            .replacingOccurrences(of: "Not Found", with: "Method Not Allowed")
            .replacingOccurrences(of: "404", with: "405").replacingOccurrences(
                of: "not-found",
                with: "method-not-allowed"
            )
        #expect(
            OpenAPIConformance.check(
                method: "PATCH",
                uri: "/api/v1/products",
                status: 405,
                headers: problemHeaders + [(name: "Allow", value: "GET, HEAD, POST")],
                body: Array(notAllowed.utf8)
            ) == []
        )
    }

    @Test("the schema validator handles the keywords the document uses")
    func validator() throws {
        let document = try JSONValue.parse(
            Array(
                #"""
                {"components":{"schemas":{
                  "Id":{"type":"string","format":"uuid"},
                  "Thing":{"type":"object","required":["id","n"],"additionalProperties":false,"properties":{
                    "id":{"$ref":"#/components/schemas/Id"},
                    "n":{"type":"integer","minimum":1,"maximum":3},
                    "s":{"type":["string","null"],"minLength":2,"maxLength":3,"pattern":"^[a-z]+$"},
                    "k":{"enum":["a","b"]},
                    "c":{"const":true},
                    "l":{"type":"array","minItems":1,"maxItems":2,"items":{"type":"number"}},
                    "o":{"oneOf":[{"type":"string"},{"type":"integer"}]},
                    "a":{"anyOf":[{"type":"string"},{"type":"integer"}]},
                    "x":{"allOf":[{"type":"string"},{"maxLength":1}]},
                    "t":{"type":"string","format":"date-time"}}}}}}
                """#.utf8
            )
        )
        let validator = JSONSchemaValidator(document: document)
        let schema = JSONValue.object(["$ref": .string("#/components/schemas/Thing")])
        func problems(_ text: String) throws -> [String] {
            try validator.validate(JSONValue.parse(Array(text.utf8)), against: schema, schemaPath: "#").map(
                \.description
            )
        }
        #expect(
            try problems(
                #"{"id":"0b5c4b1e-7d1f-4c55-9f4e-000000000004","n":2.0,"s":null,"k":"a","c":true,"l":[1.5],"o":1,"a":"z","x":"q","t":"2026-01-01T00:00:00Z"}"#
            ) == []
        )
        let bad = try problems(
            #"{"id":"nope","n":9,"s":"ABCD","k":"z","c":false,"l":[],"o":true,"a":[],"x":"qq","t":"yesterday","extra":1}"#
        )
        let expectedPaths = [
            "Id/format", "n/maximum", "s/maxLength", "s/pattern", "k/enum", "c/const", "l/minItems", "o/oneOf",
            "a/anyOf", "x/allOf/1/maxLength", "t/format", "Thing/additionalProperties",
        ]
        for path in expectedPaths {
            #expect(bad.contains { $0.contains(path) }, "\(path) in \(bad)")
        }
        #expect(try problems(#"{"id":"0b5c4b1e-7d1f-4c55-9f4e-000000000004"}"#).first?.contains("n is missing") == true)
        #expect(
            try problems(#"{"id":"0b5c4b1e-7d1f-4c55-9f4e-000000000004","n":"1"}"#).first?.contains("is string") == true
        )
    }

    /// Calls `visit` for every object in `value`, with its JSON Pointer.
    static func walk(_ value: JSONValue, path: String, _ visit: (JSONValue, String) -> Void) {
        switch value {
        case .object(let members):
            visit(value, path)
            for (key, member) in members {
                walk(member, path: path + "/" + OpenAPIConformance.escape(key), visit)
            }
        case .array(let items):
            for (index, item) in items.enumerated() { walk(item, path: path + "/\(index)", visit) }
        default:
            break
        }
    }
}
