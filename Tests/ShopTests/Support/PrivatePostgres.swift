import Foundation
import PostgresNIO

/// A PostgreSQL cluster of a test's own (initdb into a temporary folder, a free loopback port, trust auth), for tests
/// that kill or restart the server. Never the machine's clusters: other tests keep theirs.
final class PrivatePostgres: Sendable {
    let port: Int
    private let binaries: String
    private let root: String

    private var data: String { self.root + "/data" }

    private init(port: Int, binaries: String, root: String) {
        self.port = port
        self.binaries = binaries
        self.root = root
    }

    /// Creates the cluster and starts it.
    static func start() async throws -> PrivatePostgres {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted().last else {
            throw CatalogServerError("no PostgreSQL server binaries in /usr/lib/postgresql (run scripts/services.sh)")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "shop-test-pg-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let server = PrivatePostgres(
            port: Int.random(in: 40_000..<50_000),
            binaries: "/usr/lib/postgresql/\(version)/bin",
            root: root
        )
        if getuid() == 0 { try await server.run(["/bin/chown", "postgres:postgres", root], asPostgres: false) }
        try await server.run([
            server.binaries + "/initdb", "-D", server.data, "-U", "postgres", "-E", "UTF8", "--auth=trust",
            "--no-sync", "--no-instructions",
        ])
        let settings = """

            listen_addresses = '127.0.0.1'
            port = \(server.port)
            unix_socket_directories = '\(root)'
            fsync = off
            max_connections = 50

            """
        try await server.run(["/bin/sh", "-c", "printf '%s' \"$0\" >> \(server.data)/postgresql.conf", settings])
        try await server.launch()
        return server
    }

    /// The client configuration for the cluster's `postgres` database, without TLS.
    func clientConfiguration(maxConnections: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: "127.0.0.1",
            port: self.port,
            username: "postgres",
            password: nil,
            database: "postgres",
            tls: .disable
        )
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(2)
        return configuration
    }

    /// Starts the server (again).
    func launch() async throws {
        try await self.run([
            self.binaries + "/pg_ctl", "-D", self.data, "-l", self.root + "/log", "-w", "-t", "60", "start",
        ])
    }

    /// Stops the server: `immediate` kills every backend at once, like a crash (clients see their connections reset
    /// mid-transaction).
    func stop(mode: String = "immediate") async throws {
        try await self.run([self.binaries + "/pg_ctl", "-D", self.data, "-w", "-t", "60", "stop", "-m", mode])
    }

    /// Stops the server and removes the cluster.
    func destroy() async {
        try? await self.stop()
        try? FileManager.default.removeItem(atPath: self.root)
    }

    private func run(_ argv: [String], asPostgres: Bool = true) async throws {
        let command = getuid() == 0 && asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv : argv
        // posix_spawn and waitpid, not Foundation's `Process`: that one learns of the exit through a socket the child
        // inherits, and `pg_ctl start` passes it on to the server it leaves running, so the exit is never seen.
        let status = await catalogOffPool { () -> Int32 in
            var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for descriptor: Int32 in 0...2 {
                posix_spawn_file_actions_addopen(
                    &actions,
                    descriptor,
                    "/dev/null",
                    descriptor == 0 ? O_RDONLY : O_WRONLY,
                    0
                )
            }
            var arguments = command.map { strdup($0) }
            arguments.append(nil)
            defer { for argument in arguments { free(argument) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, command[0], &actions, nil, arguments, environ) == 0 else { return -1 }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return (status >> 8) & 0xff
        }
        guard status == 0 else { throw CatalogServerError("\(argv[0]) exited with \(status)") }
    }
}
