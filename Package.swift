// swift-tools-version:6.1
import Foundation
import PackageDescription

// What a user depends on: the allocator, the AF_XDP layer and the job API, and the two tools.
var products: [Product] = [
    .library(name: "PageFrag", targets: ["PageFrag"]),
    .library(name: "XSK", targets: ["XSK"]),
    // The job API: write a `PacketJob`, and the runner puts it on an interface's queues.
    .library(name: "XSKJobs", targets: ["XSKJobs"]),
    .executable(name: "xskd-gen", targets: ["xskd-gen"]),
    .executable(name: "xskd", targets: ["xskd"]),
]
// Internal libraries, exported only to this repository's own Fuzz and Benchmarks packages
// (their scripts set XSKD_INTERNAL_PRODUCTS=1): not API.
if ProcessInfo.processInfo.environment["XSKD_INTERNAL_PRODUCTS"] != nil {
    products += [
        .library(name: "SystemCalls", targets: ["SystemCalls"]),
        // The daemon's parsers of outside input, for the fuzzers under Fuzz/.
        .library(name: "DaemonInput", targets: ["DaemonInput"]),
        // Test networks for benchmarks (two namespaces, one veth pair).
        .library(name: "VethLab", targets: ["VethLab"]),
    ]
}

let package = Package(
    name: "xskd",
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox.git", from: "0.27.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // `swift package generate-documentation` for the DocC catalogs.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The one place where errno becomes a typed Swift error.
        .target(name: "SystemCalls"),
        // The page-fragment allocator over a UMEM-shaped region: pure Swift, no root needed.
        .target(
            name: "PageFrag",
            dependencies: [
                "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // C over libxdp/libbpf and the kernel uapi: the layer the AF_XDP module stands on.
        .target(
            name: "CShims",
            path: "CShims",
            linkerSettings: [.linkedLibrary("xdp"), .linkedLibrary("bpf")]
        ),
        // The AF_XDP layer: UMEM, rings, sockets, and our XDP programs through libbpf.
        .target(
            name: "XSK",
            dependencies: [
                "CShims", "PageFrag", "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["BPFObjectPlugin"]
        ),
        // The job API and its runner: packet jobs, frames, the poll loop, set-up and drain.
        .target(
            name: "XSKJobs",
            dependencies: [
                "XSK", "PageFrag", "CShims", "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The in-kernel traffic generator (XDP live frames), for tests, benchmarks and users.
        .executableTarget(
            name: "xskd-gen",
            dependencies: [
                "XSK", "XSKJobs", "CShims", "SystemCalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the daemon takes from outside (config files, option values, control requests),
        // parsed apart from it so that tests and fuzzers can drive the parsers directly.
        .target(
            name: "DaemonInput",
            dependencies: [
                "XSK",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The daemon's logic: settings to plan, the built-in jobs, the control socket, metrics,
        // the control loop. A library, so that its logic is tested without the binary.
        .target(
            name: "XSKDaemon",
            dependencies: [
                "DaemonInput", "XSK", "XSKJobs", "PageFrag", "CShims", "SystemCalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The daemon's command line: `xskd run` and `xskd stats` over XSKDaemon.
        .executableTarget(
            name: "xskd",
            dependencies: [
                "XSKDaemon", "XSK",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test networks: two namespaces and a veth pair, removed afterwards.
        .target(name: "VethLab", dependencies: ["CShims", "SystemCalls"]),
        // Compiles bpf/ with clang -target bpf and embeds the object in XSK.
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),
        // What the test targets share: the no-op logger, the root trait, the frame template,
        // waiting for kernel state, a seeded random generator, resident memory.
        .target(name: "TestSupport", dependencies: [.product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(
            name: "XSKTests",
            dependencies: [
                "XSK", "XSKJobs", "VethLab", "PageFrag", "CShims", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DaemonInputTests",
            dependencies: [
                "DaemonInput", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "XSKDaemonTests",
            dependencies: [
                "XSKDaemon", "XSK", "XSKJobs", "DaemonInput", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CShimsTests",
            dependencies: ["CShims"]
        ),
        .testTarget(
            name: "PageFragTests",
            dependencies: [
                "PageFrag", "TestSupport",
                "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
