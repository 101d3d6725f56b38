// swift-tools-version:6.1
// libFuzzer targets for the parsers of what xskd takes from outside. Built and run by
// scripts/fuzz (swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library);
// each defines LLVMFuzzerTestOneInput and checks the parser's promises, trapping on a broken one.
import PackageDescription

let package = Package(
    name: "xskd-fuzz",
    dependencies: [
        .package(name: "xskd", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(name: "fuzz-config", dependencies: ["FuzzDriver", .product(name: "DaemonInput", package: "xskd"), .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "fuzz-options", dependencies: ["FuzzDriver", .product(name: "DaemonInput", package: "xskd"), .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "fuzz-control", dependencies: ["FuzzDriver", .product(name: "DaemonInput", package: "xskd")]),
        .target(name: "FuzzDriver"),
    ]
)
