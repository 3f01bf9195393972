import Foundation
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#endif

/// The documents in `docs/api/` are the specification; these tests keep them and the code in step.
@Suite("API documentation")
struct DocumentationTests {
    static func document(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/api/\(name)"), encoding: .utf8)
    }

    /// The body rows of the Markdown table whose header row starts with `header`, split into trimmed cells.
    static func table(_ text: String, header: String) -> [[String]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(header) }) else { return [] }
        return lines[(start + 2)...].prefix { $0.hasPrefix("|") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    static func unquoted(_ cell: String) -> String {
        cell.trimmingCharacters(in: ["`"])
    }

    @Test("every error code is documented with its status and title, and nothing else is")
    func errorCodes() throws {
        let text = try Self.document("error-response.md")
        var statuses: [String: String] = [:]
        for cells in Self.table(text, header: "| status | `code` | when |") {
            statuses[Self.unquoted(cells[1])] = cells[0]
        }
        var titles: [String: String] = [:]
        for cells in Self.table(text, header: "| `code` | `title` |") {
            titles[Self.unquoted(cells[0])] = cells[1]
        }
        let codes = ErrorCode.all.map(\.rawValue)
        #expect(Set(titles.keys) == Set(codes + ["HTTP_ERROR"]))
        for code in ErrorCode.all {
            #expect(titles[code.rawValue] == code.title, "title of \(code)")
        }
        let expectedStatus: [String: String] = [
            "BAD_REQUEST": "400", "MALFORMED_JSON": "400", "INVALID_PARAMETER": "400", "UNAUTHORIZED": "401",
            "INVALID_CREDENTIALS": "401", "INVALID_SIGNATURE": "401", "FORBIDDEN": "403", "CROSS_SITE_REQUEST": "403",
            "NOT_FOUND": "404",
            "METHOD_NOT_ALLOWED": "405", "REQUEST_TIMEOUT": "408",
            "CONFLICT": "409", "OUT_OF_STOCK": "409", "IDEMPOTENCY_KEY_IN_USE": "409",
            "JOB_ALREADY_RUNNING": "409", "ORDER_ALREADY_PAID": "409", "PAYLOAD_TOO_LARGE": "413",
            "UNSUPPORTED_MEDIA_TYPE": "415",
            "VALIDATION_FAILED": "422", "IDEMPOTENCY_KEY_REUSED": "422", "TOO_MANY_REQUESTS": "429",
            "INTERNAL_ERROR": "500",
            "DEPENDENCY_UNAVAILABLE": "503", "SERVICE_UNAVAILABLE": "503", "PROVIDER_UNAVAILABLE": "503",
            "HTTP_ERROR": "4xx",
        ]
        #expect(statuses == expectedStatus)
        for code in ErrorCode.all {
            #expect(statuses[code.rawValue] != nil, "\(code) is documented")
        }
    }

    @Test("the field codes in the documentation are the ones the code produces")
    func fieldCodes() throws {
        let text = try Self.document("error-response.md")
        let documented = Set(
            Self.table(text, header: "| field code | meaning |").flatMap { cells in
                cells[0].split(separator: "/").map { Self.unquoted($0.trimmingCharacters(in: .whitespaces)) }
            }
        )
        let produced = Set(
            [FieldError.Code.required, .invalidType, .invalidFormat, .outOfRange, .tooShort, .tooLong].map(\.rawValue)
        )
        #expect(documented == produced)
    }

    @Test("the documented examples are what the service answers")
    func examples() async throws {
        let success = try Self.document("success-response.md")
        try await withTestApp(seed: true) { client in
            for (uri, line) in [
                (
                    "/api/v1/products?page=3&size=5",
                    #"{"data":[{"currency":"USD","description":"Porcelain cupping bowls.""#
                ),
                ("/api/v1/products/0b5c4b1e-7d1f-4c55-9f4e-000000000004", #"{"data":{"currency":"USD""#),
            ] {
                try await client.execute(uri: uri, method: .get) { response in
                    let body = response.text
                    #expect(body.hasPrefix(line))
                    #expect(success.contains(body), "docs/api/success-response.md should show \(uri) as \(body)")
                }
            }
        }
    }
}
