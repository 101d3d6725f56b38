// The poll loop allocates nothing per frame or per batch: a job written on the public API
// (release every frame) runs under JobRunner on a veth lab, and each iteration sends it 6000
// frames in four bursts and waits until it has them. The control row sends the same bursts
// with an ethertype the runner's filter leaves to the kernel, so it counts everything but the
// poll loop (the harness, the in-kernel generator's calls, the lab's namespace threads). The
// two rows' malloc counts are checked against the same thresholds: a single allocation per
// batch would add ~100 per iteration, one per frame 6000. Needs root; without it, no rows.

import Benchmark
import Glibc
import Logging
import Synchronization
import VethLab
import XSKJobs

/// Frames the job has released, ever: one atomic add per batch (the benchmark's own counter).
final class Received: Sendable {
    let count = Atomic<Int>(0)
}

/// Releases every frame, as a user's job would.
struct ReleasingJob: PacketJob {
    let received: Received
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        var taken = 0
        while let frame = frames.next() {
            context.release(frame)
            taken &+= 1
        }
        received.count.add(taken, ordering: .relaxed)
    }
}

/// A veth lab with a runner on its device end taking ethertype 0x88B5, and a generator.
final class PollLoopLab: @unchecked Sendable {
    static let taken: UInt16 = 0x88B5
    static let left: UInt16 = 0x88B6
    let lab: VethLab
    let runner: JobRunner
    let programs: XDPPrograms
    let received = Received()

    init() throws {
        var logger = Logger(label: "xskd.benchmarks")
        logger.logLevel = .warning
        lab = try VethLab()
        var configuration = RunnerConfiguration(interface: lab.deviceInterface)
        configuration.filter = TrafficFilter(ethertype: Self.taken)
        configuration.umemSizeMiB = 16
        configuration.hugepages = .smallPages
        configuration.poll.wait = .poll
        let planned = configuration
        let quiet = logger
        runner = try lab.run(in: .device) { try JobRunner(configuration: planned, logger: quiet) }
        programs = try XDPPrograms(logger: logger)
        let received = received
        runner.start { _ in ReleasingJob(received: received) }
    }

    static func frame(ethertype: UInt16) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 64)
        for index in 0..<6 { frame[index] = 0xFF }
        frame[6...11] = [0x02, 0, 0, 0, 0, 1]
        frame[12] = UInt8(ethertype >> 8)
        frame[13] = UInt8(ethertype & 0xFF)
        return frame
    }

    /// Four bursts of 1500 frames (the RX ring holds 2048), each waited for when it is ours.
    func send(ethertype: UInt16, _ frame: [UInt8]) throws {
        let programs = programs
        let interface = lab.generatorInterface
        for _ in 0..<4 {
            let before = received.count.load(ordering: .relaxed)
            try lab.run(in: .generator) {
                try programs.generate(frame: frame, count: 1500, on: NetworkInterface(named: interface), sequenceOffset: 14)
            }
            guard ethertype == Self.taken else { continue }
            let deadline = ContinuousClock.now + .seconds(2)
            while received.count.load(ordering: .relaxed) < before + 1500, ContinuousClock.now < deadline { usleep(100) }
        }
    }

    func stop() {
        let report = runner.stop()
        if !report.isClean { print("PollLoopBenchmarks: \(report)") }
        lab.destroy()
    }
}

nonisolated(unsafe) var pollLoopLab: PollLoopLab?

let benchmarks: @Sendable () -> Void = {
    guard getuid() == 0 else {
        print("PollLoopBenchmarks: needs root (AF_XDP on a veth lab); no rows")
        return
    }
    let taken = PollLoopLab.frame(ethertype: PollLoopLab.taken)
    let left = PollLoopLab.frame(ethertype: PollLoopLab.left)
    let configuration = Benchmark.Configuration(
        metrics: [.mallocCountTotal, .wallClock],
        timeUnits: .milliseconds,
        warmupIterations: 3,
        scalingFactor: .one,
        maxDuration: .seconds(10),
        maxIterations: 40,
        // Thread and namespace bookkeeping of the harness varies by a few mallocs.
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 20])],
        setup: { pollLoopLab = try PollLoopLab() },
        teardown: { pollLoopLab?.stop(); pollLoopLab = nil })

    Benchmark("control_6000_frames_left_to_the_kernel", configuration: configuration) { _ in
        try pollLoopLab!.send(ethertype: PollLoopLab.left, left)
    }
    Benchmark("PollLoop_6000_frames_released_by_a_job", configuration: configuration) { _ in
        try pollLoopLab!.send(ethertype: PollLoopLab.taken, taken)
    }
}
