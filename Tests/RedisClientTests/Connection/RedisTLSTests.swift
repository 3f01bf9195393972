import Foundation
import NIOSSL
import Testing

@testable import RedisClient

/// `rediss://` against a redis-server listening with TLS only, using a throwaway CA made with openssl.
@Suite struct RedisTLSTests {
    private func makeCertificates(in directory: URL) async throws {
        func openssl(_ arguments: [String]) async throws {
            _ = try await RedisTestServer.run("openssl", arguments)
        }
        let path = directory.path
        try await openssl(["genrsa", "-out", "\(path)/ca.key", "2048"])
        try await openssl([
            "req", "-x509", "-new", "-nodes", "-key", "\(path)/ca.key", "-sha256", "-days", "1", "-subj",
            "/CN=redis-jobs test CA", "-out", "\(path)/ca.crt",
        ])
        try await openssl(["genrsa", "-out", "\(path)/server.key", "2048"])
        try await openssl([
            "req", "-new", "-key", "\(path)/server.key", "-subj", "/CN=localhost", "-out", "\(path)/server.csr",
        ])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(
            toFile: "\(path)/san.ext",
            atomically: true,
            encoding: .utf8
        )
        try await openssl([
            "x509", "-req", "-in", "\(path)/server.csr", "-CA", "\(path)/ca.crt", "-CAkey", "\(path)/ca.key",
            "-CAcreateserial", "-days", "1", "-sha256", "-extfile", "\(path)/san.ext", "-out", "\(path)/server.crt",
        ])
    }

    @Test func connectsOverTLSAndRejectsAnUntrustedServer() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-tls-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: certificates) }
        try await self.makeCertificates(in: certificates)
        // Below the kernel's ephemeral range (32768 and up), where outgoing connections take their ports; a
        // port taken anyway is retried with another.
        var started: (RedisTestServer, Int)?
        for _ in 0..<10 where started == nil {
            let tlsPort = Int.random(in: 10_000..<20_000)
            let server = try? await RedisTestServer.start([
                "--tls-port", "\(tlsPort)",
                "--tls-cert-file", certificates.appendingPathComponent("server.crt").path,
                "--tls-key-file", certificates.appendingPathComponent("server.key").path,
                "--tls-ca-cert-file", certificates.appendingPathComponent("ca.crt").path,
                "--tls-auth-clients", "no",
            ])
            if let server { started = (server, tlsPort) }
        }
        let (server, tlsPort) = try #require(started, "no free port pair for the TLS server")
        do {
            try await self.exercise(server: server, tlsPort: tlsPort, certificates: certificates)
            await server.destroy()
        } catch {
            await server.destroy()
            throw error
        }
    }

    private func exercise(server: RedisTestServer, tlsPort: Int, certificates: URL) async throws {
        var configuration = try RedisConfiguration(url: "rediss://localhost:\(tlsPort)/0")
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificates.appendingPathComponent("ca.crt").path)
        configuration.tls = tls
        try await TestRedis.withClient(configuration) { client in
            try await client.set("over", to: "tls")
            #expect(try await client.get("over") == "tls")
            try await client.subscribe(to: ["tls-channel"]) { subscription in
                try await client.publish("hello", to: "tls-channel")
                for try await message in subscription.messages {
                    #expect(message.payloadString == "hello")
                    break
                }
            }
        }

        // The default trust store does not know our CA: the handshake must fail, not fall back to plaintext.
        let untrusted = try RedisConfiguration(url: "rediss://localhost:\(tlsPort)/0")
        try await TestRedis.withClient(untrusted) { client in
            await #expect(throws: RedisError.self) { try await client.ping() }
        }
    }
}
