// xskd: a root daemon that binds AF_XDP sockets to the queues of an interface, attaches our XDP
// program, and runs a job on the frames it takes. `xskd run --help` lists every option.

import ArgumentParser
import XSK
import XSKDaemon

@main
struct XSKD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xskd",
        abstract: "AF_XDP rings managed like a NIC driver's: run a packet job on an interface's queues.",
        version: PackageVersion.current,
        subcommands: [Run.self, Stats.self],
        defaultSubcommand: nil)
}
