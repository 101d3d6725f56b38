// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "UDPSender",
    dependencies: [.package(name: "xskd", path: "../..")],
    targets: [
        .executableTarget(
            name: "UDPSender",
            dependencies: [.product(name: "XSKJobs", package: "xskd")]
        ),
    ]
)
