// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets: the RESP3 decoder (`make fuzz-resp`, docs/redis-client.md) and the API's request decoding,
// validation and webhook signature header parser (`make fuzz-api-decoding`, docs/security.md).
let package = Package(
    name: "redis-jobs-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "redis-jobs", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "RESPFuzz",
            dependencies: [
                .product(name: "RedisClient", package: "redis-jobs"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "APIFuzz",
            dependencies: [.product(name: "Shop", package: "redis-jobs")]
        ),
    ]
)
