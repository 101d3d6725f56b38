// `xskd run`: set up, run the queues' poll threads, report once a second, and on SIGINT or
// SIGTERM (or after --duration) stop every queue, give every buffer back, detach the program,
// and print the drain report.

import ArgumentParser
import CShims
import Foundation
import Logging
import PageFrag
import SystemCalls
import XSK

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job on the AF_XDP queues of an interface until SIGINT/SIGTERM or --duration.",
        discussion: """
            Frames matching the filter (all by default) on the chosen queues go to xskd; the rest \
            stay with the kernel. Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK). \
            The XDP program is attached through a BPF link: if xskd dies, nothing stays attached.
            """)

    @Option(name: .shortAndLong, help: "Interface to run on.")
    var interface: String

    @Option(name: .shortAndLong, help: "Queues: a comma-separated list (0,1) or 'all'.")
    var queues: String = "0"

    @Option(name: .shortAndLong, help: "The job: \(Job.allCases.map(\.rawValue).joined(separator: ", ")).")
    var job: Job = .drop

    @Option(help: "XDP attach mode: native, skb or auto.")
    var xdpMode: XDPAttachMode = .automatic

    @Option(help: "Socket bind mode: auto (zero-copy if the driver has it), copy or zero-copy.")
    var bindMode: XSKSocket.BindMode = .automatic

    @Option(help: "How fill buffers are managed: fragment-cache or descriptor-slots.")
    var fillStrategy: XSKQueue.FillStrategy = .fragmentCache

    @Option(help: "How an idle poll thread waits: spin, poll or adaptive.")
    var wait: WaitMode = .adaptive

    @Option(help: "UMEM size in MiB (shared by all queues).")
    var umemSize: Int = 64

    @Option(help: "2 MiB hugepages for the UMEM: auto, on or off.")
    var hugepages: PagePool.Backing = .automatic

    @Option(help: "Descriptors per ring operation.")
    var batch: Int = 64

    @Option(help: "RX and TX ring size (a power of two).")
    var ringSize: UInt32 = 2048

    @Option(help: "Fill and completion ring size (a power of two).")
    var fillSize: UInt32 = 4096

    @Option(help: "Pin the poll threads to these CPUs, one per queue in order (comma-separated).")
    var cpus: String?

    @Option(help: "Only frames of this ethertype (e.g. 0x0800) go to xskd.")
    var filterEthertype: String?

    @Option(help: "Only frames of this IP protocol (e.g. 17 for UDP) go to xskd.")
    var filterIPProtocol: UInt8?

    @Option(help: "Only UDP/TCP frames to these destination ports (9000 or 9000-9100) go to xskd.")
    var filterPorts: String?

    @Flag(help: "Replace an XDP program that is not xskd's.")
    var force = false

    @Option(help: "Stop by itself after this many seconds.")
    var duration: Double?

    @Option(help: "Seconds between statistics lines (0: none).")
    var statsInterval: Double = 1

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (1...65536).contains(umemSize) else { throw ValidationError("--umem-size must be 1...65536 MiB") }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be 1...1024") }
        for (name, size) in [("--ring-size", ringSize), ("--fill-size", fillSize)] where size < 64 || size > 65536 || size.nonzeroBitCount != 1 {
            throw ValidationError("\(name) must be a power of two from 64 to 65536, not \(size)")
        }
        if let duration, !(duration > 0 && duration <= 31_536_000) { throw ValidationError("--duration must be positive") }
        guard statsInterval >= 0 else { throw ValidationError("--stats-interval must not be negative") }
        _ = try parsedQueues(available: nil)
        _ = try parsedCPUs()
        _ = try filter()
    }

    func parsedQueues(available: Int?) throws -> [UInt32] {
        if queues == "all" {
            guard let available else { return [] }
            return (0..<UInt32(available)).map { $0 }
        }
        let parts = queues.split(separator: ",")
        let values = parts.compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, Set(values).count == values.count else {
            throw ValidationError("--queues must be 'all' or a list of distinct queue numbers such as 0,1; not '\(queues)'")
        }
        if let available, let bad = values.first(where: { $0 >= available }) {
            throw ValidationError("queue \(bad) does not exist on \(interface): it has \(available) (0...\(available - 1))")
        }
        return values
    }

    func parsedCPUs() throws -> [Int]? {
        guard let cpus else { return nil }
        let parts = cpus.split(separator: ",")
        let values = parts.compactMap { Int($0) }
        guard values.count == parts.count, values.allSatisfy({ $0 >= 0 && $0 < 4096 }) else {
            throw ValidationError("--cpus must be a comma-separated list of CPU numbers, not '\(cpus)'")
        }
        return values
    }

    func filter() throws -> TrafficFilter {
        var filter = TrafficFilter()
        if let filterEthertype {
            let text = filterEthertype.lowercased().hasPrefix("0x") ? String(filterEthertype.dropFirst(2)) : filterEthertype
            guard let value = UInt16(text, radix: 16) else {
                throw ValidationError("--filter-ethertype must be a 16-bit hexadecimal number such as 0x0800, not '\(filterEthertype)'")
            }
            filter.ethertype = value
        }
        filter.ipProtocol = filterIPProtocol
        if let filterPorts {
            let bounds = filterPorts.split(separator: "-").map { UInt16($0) }
            guard (1...2).contains(bounds.count), bounds.allSatisfy({ $0 != nil }), bounds.first!! <= bounds.last!! else {
                throw ValidationError("--filter-ports must be a port or a range such as 9000-9100, not '\(filterPorts)'")
            }
            filter.destinationPorts = bounds.first!!...bounds.last!!
        }
        return filter
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "xskd")
        do {
            try Daemon(options: self, logger: logger).run()
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
