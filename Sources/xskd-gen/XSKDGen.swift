// xskd-gen: the traffic tools the tests, benchmarks and demo stand on. `send` (the default)
// generates frames from inside the kernel; `count` attaches the in-kernel references (XDP_DROP,
// XDP_TX) and counts what they handle, as a sink or as the bound user space is measured against.

import ArgumentParser
import CShims
import Foundation
import XSK

#if canImport(Glibc)
import Glibc
#endif

@main
struct XSKDGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xskd-gen",
        abstract: "Send frames from inside the kernel, or count them with an in-kernel XDP program.",
        version: PackageVersion.current,
        subcommands: [Send.self, Count.self],
        defaultSubcommand: Send.self)
}

/// Moves the process into the network namespace `name` (under /run/netns), if given.
func enterNamespace(_ name: String?) throws {
    guard let name else { return }
    let descriptor = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0, cshims_enter_network_namespace(descriptor) == 0 else {
        throw ValidationError("cannot enter network namespace \(name): errno \(errno)")
    }
    close(descriptor)
}

/// Pins the calling thread to `cpu`, if given.
func pin(_ cpu: Int?) throws {
    guard let cpu else { return }
    let result = cshims_pin_current_thread(Int32(cpu))
    guard result == 0 else { throw ValidationError("cannot pin to CPU \(cpu): errno \(result)") }
}
