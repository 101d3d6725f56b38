// `xskd run`: set up, run the queues' poll threads, report once a second, and on SIGINT or
// SIGTERM (or after --duration) stop every queue, give every buffer back, detach the program,
// and print the drain report.

import ArgumentParser
import CShims
import DaemonInput
import Foundation
import Logging
import PageFrag
import ServiceLifecycle
import SystemCalls
import XSK

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job on the AF_XDP queues of an interface until SIGINT/SIGTERM or --duration.",
        discussion: """
            Frames matching the filter (all by default) on the chosen queues go to xskd; the rest \
            stay with the kernel. Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK). \
            The XDP program is attached through a BPF link: if xskd dies, nothing stays attached.
            """)

    @Option(help: "A JSON file with any of the options below (keys as the long option names, the filter as an object: {\"filter\": {\"ethertype\": \"0x0800\", \"ip-protocol\": 17, \"ports\": \"9000-9100\"}}). The command line overrides the file; SIGHUP re-reads its filter.")
    var config: String?

    @Option(name: .shortAndLong, help: "Interface to run on.")
    var interface: String?

    @Option(name: .shortAndLong, help: "Queues: a comma-separated list (0,1) or 'all'. (default: 0)")
    var queues: String?

    @Option(name: .shortAndLong, help: "The job: \(Job.allCases.map(\.rawValue).joined(separator: ", ")). (default: drop)")
    var job: Job?

    @Option(help: "XDP attach mode: native, skb or auto. (default: auto)")
    var xdpMode: XDPAttachMode?

    @Option(help: "Socket bind mode: auto (zero-copy if the driver has it), copy or zero-copy. (default: auto)")
    var bindMode: XSKSocket.BindMode?

    @Option(help: "How fill buffers are managed: fragment-cache or descriptor-slots. (default: fragment-cache)")
    var fillStrategy: XSKQueue.FillStrategy?

    @Option(help: "How an idle poll thread waits: spin (always polls), poll (sleeps in poll()) or adaptive (polls while that brings frames; otherwise sleeps in poll(), or in timed naps sized to the RX ring while a stream flows). (default: adaptive)")
    var wait: WaitMode?

    @Option(help: "UMEM size in MiB, shared by all queues. (default: 64)")
    var umemSize: Int?

    @Option(help: "2 MiB hugepages for the UMEM: auto, on or off. (default: auto)")
    var hugepages: PagePool.Backing?

    @Option(help: "Descriptors per ring operation. (default: 64)")
    var batch: Int?

    @Option(help: "RX and TX ring size, a power of two. (default: 2048)")
    var ringSize: UInt32?

    @Option(help: "Fill and completion ring size, a power of two. (default: 4096)")
    var fillSize: UInt32?

    @Option(help: "Busy polling: MICROSECONDS or MICROSECONDS:BUDGET (SO_BUSY_POLL, SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET). (default: off)")
    var busyPoll: String?

    @Option(help: "Size fill buffers for this MTU instead of the interface's (and follow no MTU change).")
    var fragmentMTU: Int?

    @Option(help: "Pin the poll threads to these CPUs, one per queue in order (comma-separated).")
    var cpus: String?

    @Option(help: "Only frames of this ethertype (e.g. 0x0800) go to xskd.")
    var filterEthertype: String?

    @Option(help: "Only frames of this IP protocol (e.g. 17 for UDP) go to xskd.")
    var filterIPProtocol: UInt8?

    @Option(help: "Only UDP/TCP frames to these destination ports (9000 or 9000-9100) go to xskd.")
    var filterPorts: String?

    @Option(help: "forward: the second interface; frames cross between --interface and it, both ways.")
    var to: String?

    @Option(help: "generate: frame length in bytes, 60...9000. (default: 64)")
    var size: Int?

    @Option(help: "generate: frames per second per queue, 0 for as fast as possible. (default: 0)")
    var rate: Double?

    @Option(help: "generate: frames to send per queue. (default: until stopped)")
    var count: Int?

    @Option(help: "generate: destination MAC address. (default: ff:ff:ff:ff:ff:ff)")
    var destinationMAC: String?

    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics; a bare PORT means 127.0.0.1. (default: off)")
    var metrics: String?

    @Flag(help: "Replace an XDP program that is not xskd's.")
    var force = false

    @Option(help: "Stop by itself after this many seconds.")
    var duration: Double?

    @Option(help: "Seconds between statistics lines, 0 for none. (default: 1)")
    var statsInterval: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (default: info)")
    var logLevel: Logger.Level?

    func validate() throws {
        // Everything the command line alone can get wrong, before any file is read.
        _ = try Settings.resolve(command: self, file: nil, requireInterface: false)
    }

    func run() async throws {
        let file = try config.map { try ConfigFile.load(path: $0) }
        let settings = try Settings.resolve(command: self, file: file, requireInterface: true)
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "xskd")
        let service = DaemonService(daemon: Daemon(settings: settings, configPath: config, logger: logger))
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}

extension Job: ExpressibleByArgument {}
extension WaitMode: ExpressibleByArgument {}
extension XDPAttachMode: ExpressibleByArgument {}
extension XSKSocket.BindMode: ExpressibleByArgument {}
extension XSKQueue.FillStrategy: ExpressibleByArgument {}
extension PagePool.Backing: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
