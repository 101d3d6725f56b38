// swift-tools-version:6.1
import PackageDescription

// A rule-based two-port filter on AF_XDP rings, built on xskd's job API (two folders up).
let package = Package(
    name: "FlowFilter",
    dependencies: [.package(name: "xskd", path: "../..")],
    targets: [
        .executableTarget(name: "FlowFilter", dependencies: [.product(name: "XSKJobs", package: "xskd")]),
    ]
)
