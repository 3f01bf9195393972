import HTTPTypes
public import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

extension Request {
    /// Decodes the JSON body as `type`, answering every failure with the error template:
    /// `415` for another content type, `413` for more than 1 MiB, `400 MALFORMED_JSON` for broken JSON and
    /// `422 VALIDATION_FAILED` for a missing or mistyped member.
    ///
    /// - Parameters:
    ///   - type: What to decode.
    ///   - context: The request context (gives the size limit).
    /// - Returns: The decoded value.
    public func decodeJSON<Value: Decodable>(as type: Value.Type, context: ShopRequestContext) async throws -> Value {
        let contentType = self.headers[.contentType]
        guard let contentType, RequestDecoding.isJSON(contentType) else {
            throw APIError.unsupportedMediaType(contentType)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await self.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
        return try JSONBody.decode(Value.self, from: Data(buffer: buffer))
    }
}

/// Decoding of a JSON request body that has been read, with the answers of the error template.
public enum JSONBody {
    /// Decodes `bytes` as `type`: `400 MALFORMED_JSON` for an empty body or broken JSON, `422 VALIDATION_FAILED`
    /// naming the member for a missing or mistyped one. Never traps, whatever the bytes (fuzzed by
    /// `make fuzz-api-decoding`).
    /// - Parameters:
    ///   - type: What to decode.
    ///   - bytes: The body.
    /// - Returns: The decoded value.
    public static func decode<Value: Decodable>(_ type: Value.Type, from bytes: Data) throws(APIError) -> Value {
        guard !bytes.isEmpty else {
            throw APIError.malformedJSON("The request body is empty; a JSON document is required.")
        }
        do {
            return try JSONCoding.decoder.decode(Value.self, from: bytes)
        } catch let error as DecodingError {
            throw RequestDecoding.apiError(for: error)
        } catch {
            throw APIError.malformedJSON("The request body could not be decoded.")
        }
    }
}

enum RequestDecoding {
    /// `application/json` or `application/<something>+json`, with any parameters.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json"
            || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// Maps a decoding failure to `MALFORMED_JSON` (syntax) or `VALIDATION_FAILED` (shape).
    static func apiError(for error: DecodingError) -> APIError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .malformedJSON("The request body is not valid JSON.")
        case .dataCorrupted(let context):
            return .validationFailed([
                FieldError(field: self.path(context.codingPath), code: .invalidFormat, message: "has an invalid value")
            ])
        case .keyNotFound(let key, let context):
            return .validationFailed([
                FieldError(field: self.path(context.codingPath + [key]), code: .required, message: "is required")
            ])
        case .valueNotFound(let type, let context):
            return .validationFailed([
                FieldError(
                    field: self.path(context.codingPath),
                    code: .required,
                    message: "must be \(self.describe(type)), not null"
                )
            ])
        case .typeMismatch(let type, let context):
            return .validationFailed([
                FieldError(
                    field: self.path(context.codingPath),
                    code: .invalidType,
                    message: "must be \(self.describe(type))"
                )
            ])
        @unknown default:
            return .malformedJSON("The request body could not be decoded.")
        }
    }

    /// `items[0].quantity` from a coding path; `(root)` for the document itself.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return result.isEmpty ? "(root)" : result
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
