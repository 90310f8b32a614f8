// swift-tools-version: 6.1
import PackageDescription

// Codec microbenchmarks, kept out of the main package so library users never resolve the benchmark
// package. Run from this folder: swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "TwillBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Only the malloc interposer trait: mallocs per packet is the metric we gate on.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.29.0", traits: ["MallocInterposer"]),
        .package(name: "Twill", path: ".."),
    ],
    targets: [
        // The plugin looks for benchmark targets in a folder named Benchmarks: this package's own folder.
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TwillWire", package: "Twill"),
            ],
            path: "WireBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Packet I/O through each engine; the TUN ones need a network namespace (scripts/microbench.sh).
        .executableTarget(
            name: "IOBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TwillIO", package: "Twill"),
                .product(name: "TwillWire", package: "Twill"),
            ],
            path: "IOBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
