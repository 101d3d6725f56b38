// `xskd-gen send` (the default): sends frames from inside the kernel, through our XDP
// generator program run in live-frames mode (BPF_PROG_TEST_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES): each frame is a copy of one template with a 64-bit sequence
// number stamped in, transmitted (XDP_TX) out of the interface. It is what the tests and
// benchmarks use; Debian's xdp-trafficgen 1.3.1 does not run on current kernels.

import ArgumentParser
import CShims
import Foundation
import Logging
import SystemCalls
import XSK

#if canImport(Glibc)
import Glibc
#endif

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send sequence-numbered frames out of an interface from inside the kernel (XDP live frames).",
        discussion: """
            The interface's peer must accept XDP frames: on veth, the other end needs an XDP \
            program attached or GRO on. Frames are raw Ethernet (ethertype 0x88B5, broadcast) \
            unless --udp-port asks for IPv4/UDP. Needs root.
            """)

    @Option(name: .shortAndLong, help: "Interface to send out of.")
    var interface: String

    @Option(help: "Network namespace to run in (a name under /run/netns).")
    var netns: String?

    @Option(name: .shortAndLong, help: "Frame length in bytes, without the FCS (60...3520).")
    var size: Int = 64

    @Option(name: .shortAndLong, help: "Frames to send; with --duration, the most to send.")
    var count: Int?

    @Option(name: .shortAndLong, help: "Seconds to keep sending.")
    var duration: Double?

    @Option(help: "Sequence number of the first frame.")
    var firstSequence: UInt64 = 0

    @Option(help: "Send IPv4/UDP frames to this destination port (payload carries the sequence number).")
    var udpPort: UInt16?

    @Option(help: "Source IPv4 address of UDP frames.")
    var sourceAddress: String = "198.18.0.1"

    @Option(help: "Destination IPv4 address of UDP frames.")
    var destinationAddress: String = "198.18.0.2"

    @Option(help: "Destination MAC address (default broadcast).")
    var destinationMAC: String = "ff:ff:ff:ff:ff:ff"

    @Option(help: "Frames per kernel batch.")
    var batch: UInt32 = 64

    @Option(help: "Pin the sending thread to this CPU (on veth it picks the receiving queue).")
    var cpu: Int?

    func validate() throws {
        guard (60...3520).contains(size) else { throw ValidationError("--size must be 60...3520, not \(size)") }
        guard count != nil || duration != nil else { throw ValidationError("give --count, --duration, or both") }
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        if let duration, !(duration > 0 && duration <= 3600) { throw ValidationError("--duration must be 0...3600 seconds") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1...256") }
        _ = try FrameTemplate.mac(destinationMAC)
        if udpPort != nil {
            _ = try FrameTemplate.ipv4(sourceAddress)
            _ = try FrameTemplate.ipv4(destinationAddress)
            guard size >= 50 else { throw ValidationError("UDP frames with a sequence number need --size 50 or more") }
        }
    }

    func run() throws {
        try enterNamespace(netns)
        try pin(cpu)
        var logger = Logger(label: "xskd-gen")
        logger.logLevel = .warning
        let programs = try XDPPrograms(logger: logger)
        let target = try NetworkInterface(named: interface)
        let (frame, sequenceOffset) = try FrameTemplate.make(
            size: size, destinationMAC: destinationMAC, udpPort: udpPort,
            source: sourceAddress, destination: destinationAddress)

        let clock = ContinuousClock()
        let start = clock.now
        let deadline = duration.map { start + .milliseconds(Int($0 * 1000)) }
        let limit = count ?? Int.max
        var sent = 0
        // Each kernel run costs two RCU grace periods (the kernel puts the program into its XDP
        // dispatcher and takes it out again), during which this CPU idles: milliseconds each on a
        // VM, a quarter of the time with runs of 1M frames (measured: 16-27% idle). So after a
        // first run of 1M frames that measures the rate, each run lasts about a second, and the
        // last one what remains of the duration.
        var burst = min(limit - sent, 1_000_000)
        while sent < limit, deadline.map({ clock.now < $0 }) ?? true {
            let runStart = clock.now
            try programs.generate(
                frame: frame, count: burst, on: target, sequenceOffset: sequenceOffset,
                firstSequence: firstSequence + UInt64(sent), batchSize: batch)
            sent += burst
            let rate = Double(burst) / max((clock.now - runStart).inSeconds, 1e-6)
            let remaining = deadline.map { ($0 - clock.now).inSeconds } ?? 1
            burst = min(limit - sent, Int(Int32.max), max(1000, Int(rate * min(1, max(remaining, 0)))))
        }
        let seconds = (clock.now - start).inSeconds
        let rate: Double = Double(sent) / seconds / 1e6
        let secondsText = String(format: "%.3f", seconds)
        let rateText = String(format: "%.2f", rate)
        print("sent \(sent) frames of \(size) bytes on \(interface) in \(secondsText) s: \(rateText) Mpps")
    }
}
