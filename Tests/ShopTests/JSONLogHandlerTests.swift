import Logging
import Shop
import Synchronization
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
    import Foundation
#else
    import Foundation
#endif

/// `LOG_FORMAT=json`: one JSON object per line, with the logger's, the provider's and the call's metadata.
@Suite struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { self.lines.withLock { $0.append(line) } }
        var all: [String] { self.lines.withLock { $0 } }
    }

    static func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func eachEntryIsOneJSONObjectOnOneLineWithEveryPieceOfMetadata() throws {
        let lines = Lines()
        let provider = Logger.MetadataProvider {
            ["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"]
        }
        var logger = Logger(label: "shop") { label in
            JSONLogHandler(label: label, metadataProvider: provider) { lines.append($0) }
        }
        logger[metadataKey: "instance"] = "api-1"
        logger[metadataKey: "job"] = "shared"
        logger.info(
            "order placed\nsecond line",
            metadata: ["job": "call wins", "items": ["a", "b"], "order": ["id": "o-1", "total": "6.00"]]
        )
        logger.debug("below the level")
        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false, "a raw newline splits the entry: \(line)")
        let object = try Self.object(line)
        #expect(object["message"] as? String == "order placed\nsecond line")
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "shop")
        #expect(object["instance"] as? String == "api-1")
        #expect(object["job"] as? String == "call wins")
        #expect(object["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["span_id"] as? String == "00f067aa0ba902b7")
        #expect(object["items"] as? [String] == ["a", "b"])
        #expect((object["order"] as? [String: String]) == ["id": "o-1", "total": "6.00"])
        let timestamp = try #require(object["timestamp"] as? String)
        #expect(timestamp.hasSuffix("Z") && timestamp.contains("."), "UTC with milliseconds: \(timestamp)")
    }
}
