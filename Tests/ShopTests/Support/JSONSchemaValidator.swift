#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A JSON document as a value: what the OpenAPI document and the response bodies are read into.
enum JSONValue: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses JSON text.
    static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as a number, for integers and other numbers alike.
    var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// The JSON Schema type name of the value (`integer` for whole numbers).
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number(let value): value.rounded() == value && abs(value) < 9e15 ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Equality as JSON Schema's `enum` and `const` see it: `1` equals `1.0`.
    func sameValue(as other: JSONValue) -> Bool {
        if let lhs = self.doubleValue, let rhs = other.doubleValue { return lhs == rhs }
        switch (self, other) {
        case (.array(let lhs), .array(let rhs)):
            return lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { $0.sameValue(as: $1) }
        case (.object(let lhs), .object(let rhs)):
            return lhs.count == rhs.count
                && lhs.allSatisfy { key, value in rhs[key].map { value.sameValue(as: $0) } ?? false }
        default:
            return self == other
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return String(value)
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .string(let text):
            let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
            return "\"\(shown)\""
        case .array(let items): return "[\(items.count) items]"
        case .object(let members): return "{\(members.keys.sorted().prefix(6).joined(separator: ", "))}"
        }
    }
}

/// One way a value does not match its schema.
struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// Where in the value: `data.items[0].quantity`, `(root)` for the value itself.
    var instancePath: String
    /// Where in the document: `#/components/schemas/Order/properties/total/pattern`.
    var schemaPath: String
    /// What is wrong.
    var message: String

    var description: String { "\(self.instancePath): \(self.message) (schema \(self.schemaPath))" }
}

/// A JSON Schema validator for the subset of JSON Schema 2020-12 that `openapi.json` uses: `type` (one or a list,
/// `null` included), `properties`, `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `enum`,
/// `const`, `minLength`/`maxLength` (in Unicode scalars), `minimum`/`maximum` (and the exclusive ones), `pattern`,
/// `format` (`uuid`, `date-time`, `date`; loosely), `$ref` into the same document, `oneOf`/`anyOf`/`allOf`/`not`.
/// Anything else (`description`, `example`, `default`, ...) is ignored.
struct JSONSchemaValidator: Sendable {
    /// The document `$ref`s point into.
    let document: JSONValue

    /// The problems of `value` against `schema`; empty when it matches.
    /// - Parameters:
    ///   - value: The value.
    ///   - schema: The schema (may be a `$ref` object).
    ///   - schemaPath: Where the schema is, for messages.
    ///   - instancePath: Where the value is, for messages.
    func validate(
        _ value: JSONValue,
        against schema: JSONValue,
        schemaPath: String,
        instancePath: String = "(root)"
    ) -> [SchemaViolation] {
        switch schema {
        case .bool(true): return []
        case .bool(false):
            return [SchemaViolation(instancePath: instancePath, schemaPath: schemaPath, message: "no value is allowed")]
        case .object(let keywords):
            return self.validate(value, keywords: keywords, schemaPath: schemaPath, instancePath: instancePath)
        default:
            return [
                SchemaViolation(
                    instancePath: instancePath,
                    schemaPath: schemaPath,
                    message: "the schema is not an object"
                )
            ]
        }
    }

    /// The schema a local `$ref` (`#/components/schemas/Product`) names, or nil.
    func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#") else { return nil }
        var node = self.document
        for token in reference.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[key] else { return nil }
            node = next
        }
        return node
    }

    private func validate(
        _ value: JSONValue,
        keywords: [String: JSONValue],
        schemaPath: String,
        instancePath: String
    ) -> [SchemaViolation] {
        var problems: [SchemaViolation] = []
        func fail(_ keyword: String, _ message: String) {
            problems.append(
                SchemaViolation(instancePath: instancePath, schemaPath: schemaPath + "/" + keyword, message: message)
            )
        }

        if let reference = keywords["$ref"]?.stringValue {
            if let target = self.resolve(reference) {
                problems += self.validate(value, against: target, schemaPath: reference, instancePath: instancePath)
            } else {
                fail("$ref", "the reference \(reference) does not resolve")
            }
        }

        if let type = keywords["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            let actual = value.typeName
            let matches = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !matches {
                fail("type", "is \(actual) \(value), expected \(allowed.joined(separator: " or "))")
                // Nothing else of this schema is meaningful for a value of the wrong type.
                return problems
            }
        }
        if let options = keywords["enum"]?.arrayValue, !options.contains(where: { $0.sameValue(as: value) }) {
            fail("enum", "\(value) is not one of \(options.map(\.description).joined(separator: ", "))")
        }
        if let constant = keywords["const"], !constant.sameValue(as: value) {
            fail("const", "\(value) is not \(constant)")
        }

        switch value {
        case .string(let text):
            problems += self.validateString(text, keywords: keywords, fail: fail)
        case .integer, .number:
            problems += self.validateNumber(value.doubleValue ?? 0, keywords: keywords, fail: fail)
        case .array(let items):
            if let minimum = keywords["minItems"]?.doubleValue, Double(items.count) < minimum {
                fail("minItems", "has \(items.count) items, fewer than \(Int(minimum))")
            }
            if let maximum = keywords["maxItems"]?.doubleValue, Double(items.count) > maximum {
                fail("maxItems", "has \(items.count) items, more than \(Int(maximum))")
            }
            if let itemSchema = keywords["items"] {
                for (index, item) in items.enumerated() {
                    problems += self.validate(
                        item,
                        against: itemSchema,
                        schemaPath: schemaPath + "/items",
                        instancePath: Self.join(instancePath, index: index)
                    )
                }
            }
        case .object(let members):
            problems += self.validateObject(
                members,
                keywords: keywords,
                schemaPath: schemaPath,
                instancePath: instancePath,
                fail: fail
            )
        default:
            break
        }

        if let all = keywords["allOf"]?.arrayValue {
            for (index, branch) in all.enumerated() {
                problems += self.validate(
                    value,
                    against: branch,
                    schemaPath: schemaPath + "/allOf/\(index)",
                    instancePath: instancePath
                )
            }
        }
        if let any = keywords["anyOf"]?.arrayValue {
            let results = any.enumerated().map { index, branch in
                self.validate(
                    value,
                    against: branch,
                    schemaPath: schemaPath + "/anyOf/\(index)",
                    instancePath: instancePath
                )
            }
            if !results.contains(where: \.isEmpty) {
                fail("anyOf", "matches none of \(any.count) schemas: \(Self.closest(results))")
            }
        }
        if let one = keywords["oneOf"]?.arrayValue {
            let results = one.enumerated().map { index, branch in
                self.validate(
                    value,
                    against: branch,
                    schemaPath: schemaPath + "/oneOf/\(index)",
                    instancePath: instancePath
                )
            }
            let matching = results.filter(\.isEmpty).count
            if matching == 0 {
                fail("oneOf", "matches none of \(one.count) schemas: \(Self.closest(results))")
            } else if matching > 1 {
                fail("oneOf", "matches \(matching) of \(one.count) schemas, exactly one must match")
            }
        }
        if let not = keywords["not"],
            self.validate(value, against: not, schemaPath: schemaPath + "/not", instancePath: instancePath).isEmpty
        {
            fail("not", "matches a schema it must not match")
        }
        return problems
    }

    private func validateString(
        _ text: String,
        keywords: [String: JSONValue],
        fail: (String, String) -> Void
    ) -> [SchemaViolation] {
        let length = text.unicodeScalars.count
        if let minimum = keywords["minLength"]?.doubleValue, Double(length) < minimum {
            fail("minLength", "has \(length) characters, fewer than \(Int(minimum))")
        }
        if let maximum = keywords["maxLength"]?.doubleValue, Double(length) > maximum {
            fail("maxLength", "has \(length) characters, more than \(Int(maximum))")
        }
        if let pattern = keywords["pattern"]?.stringValue {
            switch Self.matches(text, pattern: pattern) {
            case .some(false): fail("pattern", "\(JSONValue.string(text)) does not match \(pattern)")
            case .none: fail("pattern", "the pattern \(pattern) does not compile")
            case .some(true): break
            }
        }
        if let format = keywords["format"]?.stringValue, !Self.conforms(text, format: format) {
            fail("format", "\(JSONValue.string(text)) is not a \(format)")
        }
        return []
    }

    private func validateNumber(
        _ number: Double,
        keywords: [String: JSONValue],
        fail: (String, String) -> Void
    ) -> [SchemaViolation] {
        if let minimum = keywords["minimum"]?.doubleValue, number < minimum {
            fail("minimum", "\(number) is less than \(minimum)")
        }
        if let maximum = keywords["maximum"]?.doubleValue, number > maximum {
            fail("maximum", "\(number) is more than \(maximum)")
        }
        if let minimum = keywords["exclusiveMinimum"]?.doubleValue, number <= minimum {
            fail("exclusiveMinimum", "\(number) is not more than \(minimum)")
        }
        if let maximum = keywords["exclusiveMaximum"]?.doubleValue, number >= maximum {
            fail("exclusiveMaximum", "\(number) is not less than \(maximum)")
        }
        return []
    }

    private func validateObject(
        _ members: [String: JSONValue],
        keywords: [String: JSONValue],
        schemaPath: String,
        instancePath: String,
        fail: (String, String) -> Void
    ) -> [SchemaViolation] {
        var problems: [SchemaViolation] = []
        for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
            fail("required", "the member \(name) is missing")
        }
        if let minimum = keywords["minProperties"]?.doubleValue, Double(members.count) < minimum {
            fail("minProperties", "has \(members.count) members, fewer than \(Int(minimum))")
        }
        if let maximum = keywords["maxProperties"]?.doubleValue, Double(members.count) > maximum {
            fail("maxProperties", "has \(members.count) members, more than \(Int(maximum))")
        }
        let properties = keywords["properties"]?.objectValue ?? [:]
        for (name, member) in members.sorted(by: { $0.key < $1.key }) {
            let path = Self.join(instancePath, key: name)
            if let propertySchema = properties[name] {
                problems += self.validate(
                    member,
                    against: propertySchema,
                    schemaPath: schemaPath + "/properties/" + name,
                    instancePath: path
                )
            } else if let additional = keywords["additionalProperties"] {
                if additional == .bool(false) {
                    fail("additionalProperties", "the member \(name) is not allowed")
                } else {
                    problems += self.validate(
                        member,
                        against: additional,
                        schemaPath: schemaPath + "/additionalProperties",
                        instancePath: path
                    )
                }
            }
        }
        return problems
    }

    /// Whether `text` contains a match of `pattern` (ECMA-262 style, unanchored), by Unicode scalars; nil when the
    /// pattern does not compile.
    static func matches(_ text: String, pattern: String) -> Bool? {
        guard let regex = try? Regex(pattern) else { return nil }
        return (try? regex.matchingSemantics(.unicodeScalar).firstMatch(in: text)) != nil
    }

    /// `uuid`, `date-time` (RFC 3339) and `date` (`YYYY-MM-DD`), checked loosely; other formats always conform.
    static func conforms(_ text: String, format: String) -> Bool {
        switch format {
        case "uuid":
            return UUID(uuidString: text) != nil
        case "date-time":
            return Self.matches(
                text,
                pattern:
                    #"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"#
            ) == true
        case "date":
            return Self.matches(text, pattern: #"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"#) == true
        default:
            return true
        }
    }

    /// The problems of the branch that came closest (fewest problems), for `oneOf`/`anyOf` messages.
    private static func closest(_ results: [[SchemaViolation]]) -> String {
        guard let best = results.min(by: { $0.count < $1.count }) else { return "" }
        return best.prefix(3).map(\.description).joined(separator: "; ")
    }

    static func join(_ path: String, key: String) -> String {
        path == "(root)" ? key : path + "." + key
    }

    static func join(_ path: String, index: Int) -> String {
        (path == "(root)" ? "" : path) + "[\(index)]"
    }
}
