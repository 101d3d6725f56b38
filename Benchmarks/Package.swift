// swift-tools-version:6.1
// Benchmarks live in their own package so that package-benchmark, DPDK and the baselines never
// enter the main build. Run from this folder: `swift package benchmark` (see BENCHMARKS.md).
import PackageDescription

let dpdkCFlags = [
    "-I/usr/include/dpdk", "-I/usr/include/x86_64-linux-gnu/dpdk", "-include", "rte_config.h", "-march=corei7",
]

let package = Package(
    name: "xskd-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "xskd", path: ".."),
        // MallocInterposer counts mallocs; the 6.3 runtime interposer is left out (not mirrored).
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // DPDK's rte_mempool, the baseline a DPDK user would pick (Debian's libdpdk-dev). Its
        // pkg-config file has a line SwiftPM cannot parse, so the flags are spelled out here.
        .target(
            name: "MempoolBaseline",
            path: "Sources/MempoolBaseline",
            cSettings: [.unsafeFlags(dpdkCFlags)],
            linkerSettings: [
                .linkedLibrary("rte_mempool"), .linkedLibrary("rte_ring"), .linkedLibrary("rte_eal"),
            ]
        ),
        // RX on veth against in-kernel XDP_DROP (root): `swift run -c release XSKRxBenchmark`.
        .executableTarget(
            name: "XSKRxBenchmark",
            dependencies: [
                .product(name: "XSK", package: "xskd"),
                .product(name: "VethLab", package: "xskd"),
                .product(name: "PageFrag", package: "xskd"),
                .product(name: "SystemCalls", package: "xskd"),
            ],
            path: "Sources/XSKRxBenchmark",
            // A measuring script in top-level code: Swift 5 mode spares it actor isolation.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The poll loop under a job written on the public API, on a veth lab (root): mallocs.
        .executableTarget(
            name: "PollLoopBenchmarks",
            dependencies: [
                .product(name: "XSKJobs", package: "xskd"),
                .product(name: "VethLab", package: "xskd"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/PollLoopBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PageFragBenchmarks",
            dependencies: [
                .product(name: "PageFrag", package: "xskd"),
                .product(name: "Benchmark", package: "benchmark"),
                "MempoolBaseline",
            ],
            path: "Benchmarks/PageFragBenchmarks",
            swiftSettings: [.unsafeFlags(dpdkCFlags.flatMap { ["-Xcc", $0] })],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
