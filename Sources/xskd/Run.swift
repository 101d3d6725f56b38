// `xskd run`: set up, run the queues' poll threads, report once a second, and on SIGINT or
// SIGTERM (or after --duration) stop every queue, give every buffer back, detach the program,
// and print the drain report. The work is the XSKDaemon library's; this is its command line.

import ArgumentParser
import XSKDaemon

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job on the AF_XDP queues of an interface until SIGINT/SIGTERM or --duration.",
        discussion: """
            Frames matching the filter (all by default) on the chosen queues go to xskd; the rest \
            stay with the kernel. Needs root, or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON \
            and CAP_IPC_LOCK (the last only when RLIMIT_MEMLOCK does not cover the UMEM). \
            The XDP program is attached through a BPF link: if xskd dies, nothing stays attached.
            """)

    @OptionGroup var options: RunOptions

    func validate() throws {
        // Everything the command line alone can get wrong, before any file is read.
        try DaemonMain.validate(options)
    }

    func run() async throws {
        try await DaemonMain.run(options)
    }
}
