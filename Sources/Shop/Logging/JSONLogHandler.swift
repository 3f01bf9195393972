public import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
    import Foundation
#else
    import Foundation
#endif

/// A swift-log handler that writes one JSON object per line (`LOG_FORMAT=json`), for log pipelines that parse them.
///
/// Each line has `timestamp` (UTC, milliseconds), `level`, `label`, `message`, `source`, `error` when the call
/// passed one, and the metadata as
/// top-level fields — the logger's (`instance`, `job`, ...), the metadata provider's (`trace_id`, `span_id` of the
/// current span with OpenTelemetry), and the call's — with the call's winning a clash. Nested metadata stays nested
/// (objects and arrays); `String(describing:)` values are strings. A line never contains a raw newline.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// Creates a handler writing to standard output.
    /// - Parameters:
    ///   - label: The logger's label.
    ///   - metadataProvider: Metadata added to every line (for example the current trace's ids).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.init(label: label, metadataProvider: metadataProvider) { line in
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }

    /// Creates a handler passing each line (newline included) to `write`.
    public init(
        label: String,
        metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (String) -> Void
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = self.metadata
        if let provided = self.metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let own = event.metadata { fields.merge(own) { $1 } }
        var object: [String: Any] = fields.mapValues(Self.json)
        object["timestamp"] = Self.timestamp(Date())
        object["level"] = event.level.rawValue
        object["label"] = self.label
        object["message"] = event.message.description
        object["source"] = event.source
        if let error = event.error { object["error"] = String(describing: error) }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else { return }
        self.write(String(decoding: data, as: UTF8.self) + "\n")
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return values.map(Self.json)
        case .dictionary(let values): return values.mapValues(Self.json)
        }
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }
}
