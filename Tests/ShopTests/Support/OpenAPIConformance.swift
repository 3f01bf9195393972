import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Checks live responses against the OpenAPI document (`Sources/Shop/HTTP/openapi.json`): the status must be
/// listed for the route (or be one of the document's `x-generic-responses`), the media type must be one the
/// status lists, required headers must be there, and a JSON body must match the schema of that status and
/// media type. The service tests' HTTP helpers send every response through ``record(method:uri:status:headers:body:)``,
/// which records a test issue for each mismatch.
enum OpenAPIConformance {
    /// The repository's root folder.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The canonical document's path.
    static let documentURL = root.appendingPathComponent("Sources/Shop/HTTP/openapi.json")

    /// The document, parsed once, or why it could not be.
    static let loaded: (document: JSONValue?, error: String) = {
        do {
            return (try JSONValue.parse(Array(try Data(contentsOf: documentURL))), "")
        } catch {
            return (nil, "\(documentURL.path): \(error)")
        }
    }()

    static var document: JSONValue? { loaded.document }

    /// Turns the checks off for the task (a test that makes the service answer off-contract on purpose).
    @TaskLocal static var disabled = false

    /// Checks one response and records a test issue for each mismatch.
    static func record(
        method: HTTPRequest.Method,
        uri: String,
        status: Int,
        headers: HTTPFields,
        body: ByteBuffer?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard !disabled else { return }
        let values = headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let problems = check(
            method: method.rawValue,
            uri: uri,
            status: status,
            headers: values,
            body: body.map { Array(buffer: $0) } ?? []
        )
        for problem in problems {
            Issue.record(Comment(rawValue: "OpenAPI: \(problem)"), sourceLocation: sourceLocation)
        }
    }

    /// The document's path template that `path` matches best (most literal segments), or nil.
    static func template(for path: String, in paths: [String: JSONValue]) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var best: (template: String, literals: Int)?
        for template in paths.keys {
            let parts = template.split(separator: "/", omittingEmptySubsequences: true)
            guard parts.count == segments.count else { continue }
            var literals = 0
            var matches = true
            for (part, segment) in zip(parts, segments) {
                if part.hasPrefix("{") && part.hasSuffix("}") {
                    if segment.isEmpty { matches = false }
                } else if part == segment {
                    literals += 1
                } else {
                    matches = false
                }
                if !matches { break }
            }
            if matches, best == nil || literals > best!.literals { best = (template, literals) }
        }
        return best?.template
    }

    /// The mismatches of one response with the document, as readable lines naming route, status and schema path.
    static func check(
        method: String,
        uri: String,
        status: Int,
        headers: [(name: String, value: String)],
        body: [UInt8]
    ) -> [String] {
        guard let document else {
            return ["the document cannot be read: \(loaded.error)"]
        }
        let validator = JSONSchemaValidator(document: document)
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        let contentType = headers.first { $0.name.lowercased() == "content-type" }?.value
        let mediaType = contentType.map {
            $0.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces).lowercased()
        }
        let paths = document["paths"]?.objectValue ?? [:]
        guard let template = Self.template(for: path, in: paths) else {
            // A path the API does not have (or a route only a test adds): only the error template is checked.
            guard mediaType == "application/problem+json" else { return [] }
            return Self.checkBody(
                body,
                schema: .object(["$ref": .string("#/components/schemas/Problem")]),
                schemaPath: "#/components/schemas/Problem",
                route: "\(method) \(path) (no such route in the document)",
                status: status,
                validator: validator
            )
        }
        let isHead = method == "HEAD"
        let operationMethod = isHead ? "get" : method.lowercased()
        let route = "\(method) \(template)"
        let pathItem = paths[template] ?? .object([:])
        let generic = document["x-generic-responses"]?.objectValue ?? [:]
        let statusKey = String(status)
        let wildcardKey = "\(status / 100)XX"

        var response: JSONValue
        var responsePath: String
        if let operation = pathItem[operationMethod], let responses = operation["responses"]?.objectValue {
            let pointer = "#/paths/\(Self.escape(template))/\(operationMethod)/responses"
            if let listed = responses[statusKey] {
                (response, responsePath) = (listed, pointer + "/" + statusKey)
            } else if let listed = responses[wildcardKey] {
                (response, responsePath) = (listed, pointer + "/" + wildcardKey)
            } else if let listed = responses["default"] {
                (response, responsePath) = (listed, pointer + "/default")
            } else if let listed = generic[statusKey] {
                (response, responsePath) = (listed, "#/x-generic-responses/" + statusKey)
            } else {
                return [
                    "\(route) answered \(status), which the document does not list for it "
                        + "(listed: \(responses.keys.sorted().joined(separator: ", ")); generic: "
                        + "\(generic.keys.sorted().joined(separator: ", "))) — body: \(Self.excerpt(body))"
                ]
            }
        } else if let listed = generic[statusKey] {
            (response, responsePath) = (listed, "#/x-generic-responses/" + statusKey)
        } else {
            return ["\(route) is not in the document, and it answered \(status) (not a generic status)"]
        }
        while let reference = response["$ref"]?.stringValue, let target = validator.resolve(reference) {
            (response, responsePath) = (target, reference)
        }

        var problems: [String] = []
        for (name, header) in response["headers"]?.objectValue ?? [:] {
            var header = header
            while let reference = header["$ref"]?.stringValue, let target = validator.resolve(reference) {
                header = target
            }
            let value = headers.first { $0.name.lowercased() == name.lowercased() }?.value
            if header["required"] == .bool(true), value == nil {
                problems.append("\(route) \(status): the header \(name) is missing (\(responsePath)/headers)")
            }
            if let value, let schema = header["schema"] {
                let instance: JSONValue =
                    schema["type"]?.stringValue == "integer"
                    ? Int64(value).map(JSONValue.integer) ?? .string(value)
                    : .string(value)
                for violation in validator.validate(
                    instance,
                    against: schema,
                    schemaPath: responsePath + "/headers/\(name)"
                ) {
                    problems.append("\(route) \(status): header \(name): \(violation)")
                }
            }
        }

        guard let content = response["content"]?.objectValue, !content.isEmpty else {
            if !isHead && !body.isEmpty {
                problems.append(
                    "\(route) \(status): the document lists no body, got \(body.count) bytes: \(Self.excerpt(body))"
                )
            }
            return problems
        }
        guard let mediaType, let media = content[mediaType] else {
            problems.append(
                "\(route) \(status): Content-Type \(contentType ?? "none") is not one of "
                    + "\(content.keys.sorted().joined(separator: ", ")) (\(responsePath)/content)"
            )
            return problems
        }
        guard !isHead, mediaType == "application/json" || mediaType.hasSuffix("+json"),
            let schema = media["schema"]
        else { return problems }
        problems += Self.checkBody(
            body,
            schema: schema,
            schemaPath: responsePath + "/content/" + Self.escape(mediaType) + "/schema",
            route: route,
            status: status,
            validator: validator
        )
        return problems
    }

    private static func checkBody(
        _ body: [UInt8],
        schema: JSONValue,
        schemaPath: String,
        route: String,
        status: Int,
        validator: JSONSchemaValidator
    ) -> [String] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            return ["\(route) \(status): the body is not JSON: \(Self.excerpt(body))"]
        }
        return validator.validate(value, against: schema, schemaPath: schemaPath).map { violation in
            "\(route) \(status): \(violation) — body: \(Self.excerpt(body))"
        }
    }

    /// A JSON Pointer token.
    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(400), as: UTF8.self)
        return body.count > 400 ? text + "…" : text
    }
}

/// A test client that checks every response against the OpenAPI document (``OpenAPIConformance``).
struct OpenAPICheckedClient: TestClientProtocol {
    let base: any TestClientProtocol

    func executeRequest(
        uri: String,
        method: HTTPRequest.Method,
        headers: HTTPFields,
        body: ByteBuffer?
    ) async throws -> TestResponse {
        let response = try await self.base.executeRequest(uri: uri, method: method, headers: headers, body: body)
        OpenAPIConformance.record(
            method: method,
            uri: uri,
            status: Int(response.status.code),
            headers: response.headers,
            body: response.body
        )
        return response
    }

    var port: Int? { self.base.port }
}

extension TestClientProtocol {
    /// This client, checking every response against the OpenAPI document.
    var checkedAgainstOpenAPI: any TestClientProtocol {
        self is OpenAPICheckedClient ? self : OpenAPICheckedClient(base: self)
    }
}
