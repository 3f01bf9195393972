import Foundation
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#endif

/// Runs the real `shop` binary that `swift test` builds next to the test bundle.
@Suite("shop executable")
struct ExecutableTests {
    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// `.build/<configuration>/shop`, beside the test bundle.
    static func executable() throws -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // The bundle path is either the xctest bundle itself or a file inside it.
        while directory.pathComponents.count > 1 {
            let candidate = directory.appendingPathComponent("shop")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw ExecutableMissing()
    }

    struct ExecutableMissing: Error, CustomStringConvertible {
        var description: String { "the shop executable was not found beside the test bundle; run `swift build` first" }
    }

    /// Runs the binary on a thread of its own: waiting for a process must not block the cooperative pool
    /// that every other test shares.
    static func run(_ arguments: [String], environment: [String: String]) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try Self.runBlocking(arguments, environment: environment) })
            }
            thread.start()
        }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Outcome {
        let process = Process()
        process.executableURL = try self.executable()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            standardOutput: String(decoding: outData, as: UTF8.self),
            standardError: String(decoding: errData, as: UTF8.self)
        )
    }

    @Test(
        "a bad value stops the process at start with one line naming the key",
        arguments: [
            (["serve"], ["HTTP_PORT": "80a"], #"error: HTTP_PORT: "80a" is not a port number (1-65535)"#),
            (["serve", "--http-port", "70000"], [:], #"error: HTTP_PORT: "70000" is not a port number (1-65535)"#),
            (
                ["migrate"], ["LOG_LEVEL": "chatty"],
                #"error: LOG_LEVEL: "chatty" is not a log level (trace, debug, info, notice, warning, error, critical)"#
            ),
            (
                ["seed"], ["DATABASE_URL": "postgres://shop:topsecret@127.0.0.1:5432"],
                "error: DATABASE_URL: must name one database (postgres://user:password@host/db)"
            ),
        ]
    )
    func badConfiguration(arguments: [String], environment: [String: String], line: String) async throws {
        let outcome = try await Self.run(arguments, environment: environment)
        #expect(outcome.status != 0)
        #expect(outcome.standardError == line + "\n")
        #expect(outcome.standardOutput.isEmpty)
        #expect(!outcome.standardError.contains("topsecret"))
    }

    @Test("an unreachable database stops migrate with one clear line")
    func unreachableDatabase() async throws {
        // Port 1 on loopback: nothing listens there.
        let outcome = try await Self.run(
            ["migrate", "--log-level", "critical", "--database-startup-timeout-ms", "1000"],
            environment: ["DATABASE_URL": "postgres://shop:topsecret@127.0.0.1:1/shop"]
        )
        #expect(outcome.status != 0)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(
            lines.first?.hasPrefix(
                "error: migrate failed: cannot reach PostgreSQL at postgres://shop:***@127.0.0.1:1/shop"
            ) == true
        )
        #expect(!outcome.standardError.contains("topsecret"))
    }

    @Test("a wrong password stops migrate at once with the server's reason")
    func wrongPassword() async throws {
        let database = try TestServers.database
        let outcome = try await Self.run(
            ["migrate", "--log-level", "critical"],
            environment: [
                "DATABASE_URL":
                    "postgres://\(database.user):not-the-password@\(database.host):\(database.port)/\(database.database)"
            ]
        )
        #expect(outcome.status != 0)
        #expect(
            outcome.standardError
                == "error: migrate failed: PostgreSQL at postgres://\(database.user):***@\(database.host):\(database.port)/\(database.database) refused the connection: password authentication failed for user \"\(database.user)\"\n"
        )
    }
}
