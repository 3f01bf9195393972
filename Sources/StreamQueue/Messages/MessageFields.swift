import Foundation
import NIOCore
import RedisClient

/// The fields of a message's stream entry. Headers are one field each (`h:<name>`), so nothing needs JSON.
enum MessageField {
    static let id = "id"
    static let type = "type"
    static let key = "key"
    static let payload = "payload"
    static let attempt = "attempt"
    static let published = "published"
    static let lastError = "error"
    static let headerPrefix = "h:"

    // Added to dead letters.
    static let deadGroup = "dl:group"
    static let deadReason = "dl:reason"
    static let deadError = "dl:error"
    static let deadEntry = "dl:entry"
    static let deadAttempts = "dl:attempts"
    static let deadDeliveries = "dl:deliveries"
    static let deadFailedAt = "dl:failed_at"
}

extension OutgoingMessage {
    /// Appends `field value ...` pairs of the entry to `command`.
    func appendFields(to command: inout RedisCommand, publishedMilliseconds: Int64) {
        command.append(MessageField.id)
        command.append(self.id)
        command.append(MessageField.type)
        command.append(self.type)
        if let key = self.key {
            command.append(MessageField.key)
            command.append(key)
        }
        command.append(MessageField.payload)
        command.append(self.payload)
        command.append(MessageField.attempt)
        command.append(1)
        command.append(MessageField.published)
        command.append(Int(publishedMilliseconds))
        for (name, value) in self.headers {
            command.append(MessageField.headerPrefix + name)
            command.append(value)
        }
    }

    /// The publish time in milliseconds since 1970.
    var publishedMilliseconds: Int64 {
        Int64(((self.publishedAt ?? Date()).timeIntervalSince1970 * 1000).rounded())
    }
}

extension QueueMessage {
    /// Reads a message from a stream entry; nil when required fields are missing or malformed.
    init?(entry: RedisStreamEntry, topic: String, deliveryCount: Int = 1) {
        guard let id = entry.fields[MessageField.id].map({ String(buffer: $0) }), !id.isEmpty,
            let type = entry.fields[MessageField.type].map({ String(buffer: $0) }),
            let payload = entry.fields[MessageField.payload]
        else { return nil }
        var headers: [String: String] = [:]
        for (field, value) in entry.fields where field.hasPrefix(MessageField.headerPrefix) {
            headers[String(field.dropFirst(2))] = String(buffer: value)
        }
        let attempt = entry.fields[MessageField.attempt].flatMap { Int(String(buffer: $0)) } ?? 1
        let published = entry.fields[MessageField.published].flatMap { Int64(String(buffer: $0)) } ?? 0
        self.init(
            id: id,
            type: type,
            payload: payload,
            headers: headers,
            key: entry.fields[MessageField.key].map { String(buffer: $0) },
            attempt: max(1, attempt),
            publishedAt: Date(timeIntervalSince1970: Double(published) / 1000),
            topic: topic,
            entryID: entry.id
        )
        self.lastError = entry.fields[MessageField.lastError].map { String(buffer: $0) }
        self.deliveryCount = max(1, deliveryCount)
    }
}

extension RedisStreamEntry {
    /// The entry's fields as script arguments, with `replacing` fields set (or added) and `removing` left out.
    func fieldArguments(replacing: [String: String] = [:], removing: Set<String> = []) -> [any RESPArgument] {
        var arguments: [any RESPArgument] = []
        arguments.reserveCapacity(self.fields.count * 2 + replacing.count * 2)
        for (field, value) in self.fields where replacing[field] == nil && !removing.contains(field) {
            arguments.append(field)
            arguments.append(value)
        }
        for (field, value) in replacing {
            arguments.append(field)
            arguments.append(value)
        }
        return arguments
    }
}

/// Shortens an error description for storage in Redis (retries and dead letters).
func describeError(_ error: any Error, limit: Int = 2000) -> String {
    let text = String(describing: error)
    guard text.utf8.count > limit else { return text }
    return String(text.prefix(limit)) + "…"
}
