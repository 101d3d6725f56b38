// `xskd-gen count`: attaches one of xskd's in-kernel reference programs to an interface for a
// while and reports what it handled: XDP_DROP (the bound for a drop job, and a sink that
// counts what arrives) or XDP_TX with the addresses swapped (the bound for a reflect job).

import ArgumentParser
import CShims
import Foundation
import Logging
import SystemCalls
import XSK

struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach XDP_DROP or XDP_TX to an interface for a while and count the frames it handles.")

    enum Reference: String, ExpressibleByArgument, CaseIterable {
        case drop
        case reflect

        var program: XDPPrograms.Program { self == .drop ? .drop : .reflect }
    }

    @Option(name: .shortAndLong, help: "Interface to attach to.")
    var interface: String

    @Option(help: "Network namespace to run in (a name under /run/netns).")
    var netns: String?

    @Option(help: "The program: drop (XDP_DROP) or reflect (XDP_TX, addresses swapped).")
    var program: Reference = .drop

    @Option(help: "XDP attach mode: native or skb.")
    var xdpMode: String = "native"

    @Option(name: .shortAndLong, help: "Seconds to count for.")
    var duration: Double = 5

    @Option(help: "Seconds to wait after attaching before counting starts.")
    var warmUp: Double = 0

    @Flag(help: "Print one JSON object instead of a sentence.")
    var json = false

    func validate() throws {
        guard duration > 0, duration <= 3600 else { throw ValidationError("duration must be 0...3600 seconds, not \(duration)") }
        guard warmUp >= 0, warmUp <= 60 else { throw ValidationError("warm-up must be 0...60 seconds, not \(warmUp)") }
        guard ["native", "skb"].contains(xdpMode) else { throw ValidationError("xdp-mode must be native or skb, not '\(xdpMode)'") }
    }

    func run() throws {
        try enterNamespace(netns)
        var logger = Logger(label: "xskd-gen")
        logger.logLevel = .warning
        let programs = try XDPPrograms(logger: logger)
        let target = try NetworkInterface(named: interface)
        let link = try programs.attach(program.program, to: target, mode: xdpMode == "skb" ? .skb : .native)
        defer { link.detach() }
        let queues = UInt32(XSKD_MAX_QUEUES)
        func total() throws -> UInt64 {
            var sum: UInt64 = 0
            for queue in 0..<queues {
                let counters = try programs.counters(queue: queue)
                sum += program == .drop ? counters.dropped : counters.transmitted
            }
            return sum
        }
        if warmUp > 0 { usleep(UInt32(warmUp * 1e6)) }
        let clock = ContinuousClock()
        let before = try total()
        let start = clock.now
        usleep(UInt32(duration * 1e6))
        let after = try total()
        let elapsed = clock.now - start
        let seconds = elapsed.inSeconds
        let frames = after - before
        let rate = Double(frames) / seconds
        if json {
            print(#"{"program": "\#(program.rawValue)", "interface": "\#(interface)", "frames": \#(frames), "seconds": \#(String(format: "%.3f", seconds)), "pps": \#(String(format: "%.0f", rate))}"#)
        } else {
            print("\(program.rawValue) on \(interface): \(frames) frames in \(String(format: "%.3f", seconds)) s: \(String(format: "%.3f", rate / 1e6)) Mpps")
        }
    }
}
