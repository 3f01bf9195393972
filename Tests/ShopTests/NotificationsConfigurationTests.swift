import Configuration
import Shop
import Testing

@Suite("Notifications configuration")
struct NotificationsConfigurationTests {
    func load(_ environment: [String: String]) throws -> ShopConfiguration {
        try ShopConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        )
    }

    @Test("defaults and every key from its environment variable")
    func values() throws {
        let defaults = try self.load([:]).notifications
        #expect(defaults == NotificationsConfiguration())
        #expect(defaults.channel == "shop:notifications")
        #expect(defaults.streamBuffer == 256 && defaults.maxStreams == 10_000)
        #expect(defaults.heartbeat == .seconds(15) && defaults.lowStockThreshold == 5)
        let set = try self.load([
            "NOTIFICATIONS_CHANNEL": "app-2:notify",
            "NOTIFICATIONS_STREAM_BUFFER": "8",
            "NOTIFICATIONS_MAX_STREAMS": "100",
            "NOTIFICATIONS_HEARTBEAT_SECONDS": "2",
            "NOTIFICATIONS_LOW_STOCK_THRESHOLD": "0",
        ]).notifications
        #expect(set.channel == "app-2:notify")
        #expect(set.streamBuffer == 8 && set.maxStreams == 100)
        #expect(set.heartbeat == .seconds(2) && set.lowStockThreshold == 0)
    }

    @Test(
        "a bad value is one line naming the key",
        arguments: [
            (
                "NOTIFICATIONS_CHANNEL", "",
                #"NOTIFICATIONS_CHANNEL: "" is not a channel name (1-64 characters of A-Z a-z 0-9 : . _ -)"#
            ),
            (
                "NOTIFICATIONS_STREAM_BUFFER", "0",
                #"NOTIFICATIONS_STREAM_BUFFER: "0" is not an integer from 1 to 100000"#
            ),
            ("NOTIFICATIONS_MAX_STREAMS", "x", #"NOTIFICATIONS_MAX_STREAMS: "x" is not an integer from 1 to 1000000"#),
            (
                "NOTIFICATIONS_HEARTBEAT_SECONDS", "0",
                #"NOTIFICATIONS_HEARTBEAT_SECONDS: "0" is not an integer from 1 to 3600"#
            ),
            (
                "NOTIFICATIONS_LOW_STOCK_THRESHOLD", "-1",
                #"NOTIFICATIONS_LOW_STOCK_THRESHOLD: "-1" is not an integer from 0 to 1000000"#
            ),
        ]
    )
    func badValue(variable: String, value: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try self.load([variable: value]) }
        #expect(error?.description == message)
    }

    @Test("every notifications key is a key of the service, in operations.md and in the README")
    func documented() throws {
        let operations = try repositoryFile("docs/operations.md")
        let readme = try repositoryFile("README.md")
        for key in ShopConfiguration.Key.notifications {
            #expect(ShopConfiguration.Key.all.contains { $0.variable == key.variable })
            #expect(operations.contains("| `\(key.name)` | `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
            #expect(readme.contains("| `\(key.variable)` | `\(key.flag)` |"), "\(key.variable)")
        }
    }
}
