// swift-tools-version:6.1
import PackageDescription

// A UDP echo responder on AF_XDP rings, built on xskd's job API (the package two folders up).
let package = Package(
    name: "UDPEcho",
    dependencies: [.package(name: "xskd", path: "../..")],
    targets: [
        .executableTarget(name: "UDPEcho", dependencies: [.product(name: "XSKJobs", package: "xskd")]),
    ]
)
