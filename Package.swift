// swift-tools-version: 6.1
import PackageDescription

// Layers (see Docs/Architecture.md): C shims -> TwillWire -> TwillIO -> TwillOverlay; TwillControl beside;
// twilld wires them. Heavy dependencies stay out of the library targets.
let package = Package(
    name: "Twill",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TwillWire", targets: ["TwillWire"]),
        .library(name: "TwillIO", targets: ["TwillIO"]),
        .library(name: "TwillOverlay", targets: ["TwillOverlay"]),
        .library(name: "TwillControl", targets: ["TwillControl"]),
        // etcd support lives in its own library so users of the core targets never build async-http-client.
        .library(name: "TwillEtcd", targets: ["TwillEtcd"]),
        .executable(name: "twilld", targets: ["twilld"]),
        .executable(name: "twill-etcd-bench", targets: ["twill-etcd-bench"]),
        .executable(name: "twill-noring", targets: ["twill-noring"]),
        .executable(name: "twill-cni", targets: ["twill-cni"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        // Already resolved for async-http-client; named so TwillEtcd imports what it uses explicitly.
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
        // twilld's /metrics endpoint only.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CLiburing", path: "Sources/CLiburing"),
        .systemLibrary(name: "CNetlink", path: "Sources/CNetlink", pkgConfig: "libnl-route-3.0"),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp"),
        .target(name: "TwillWire", swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "TwillIO", dependencies: ["TwillWire", "CLiburing", "CNetlink"],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "TwillOverlay", dependencies: ["TwillWire", "TwillIO"],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "TwillControl", dependencies: ["TwillWire", .product(name: "Logging", package: "swift-log")],
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "TwillEtcd", dependencies: [
            "TwillControl", "TwillWire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "twill-etcd-bench", dependencies: [
            "TwillEtcd", "TwillControl", "TwillWire",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "twilld", dependencies: [
            "CLiburing", "TwillOverlay", "TwillControl", "TwillEtcd",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        // The CNI plugin: only TwillControl, so it builds without the datapath or etcd.
        .executableTarget(name: "twill-cni", dependencies: ["TwillControl"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "twill-noring", dependencies: ["CSeccomp", "TwillIO", "TwillWire"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        // The library guide's example (Docs/Library.md shows this file): built with everything else.
        .executableTarget(name: "tun-to-udp", dependencies: ["TwillIO", "TwillWire"], path: "Examples/TunToUDP",
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        // The end-to-end harness (make bench): datapaths side by side in network namespaces.
        .executableTarget(name: "twill-bench", path: "Benchmarks/Harness", swiftSettings: [.swiftLanguageMode(.v6)]),
        // Helpers the test targets share (namespaces, engines, seeded randomness, watch recording).
        .target(name: "TwillTestSupport", dependencies: ["TwillIO", "TwillControl"], path: "Tests/TwillTestSupport",
                swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "TwillWireTests", dependencies: ["TwillWire", "TwillTestSupport"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "TwillIOTests", dependencies: ["TwillIO", "TwillWire", "TwillTestSupport"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "TwillOverlayTests", dependencies: ["TwillOverlay", "TwillControl", "TwillTestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "TwillEtcdTests", dependencies: [
            "TwillEtcd", "TwillControl", "TwillWire", "TwillTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "TwillControlTests", dependencies: ["TwillControl", "TwillWire", "TwillTestSupport", .product(name: "Logging", package: "swift-log")], swiftSettings: [.swiftLanguageMode(.v6)]),
        // Runs the namespace scenarios in Tests/Integration/*.sh against the built twilld.
        .testTarget(name: "IntegrationTests", exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
