// swift-tools-version:6.1
import PackageDescription

// A libFuzzer target over the RESP3 decoder. Build and run with `make fuzz-resp` (see docs/redis-client.md).
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
        )
    ]
)
