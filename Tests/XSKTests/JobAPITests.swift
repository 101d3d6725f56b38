import Foundation
import SystemCalls
import Testing
import VethLab
import XSK
import XSKJobs
import TestSupport

/// Jobs written against the public job API only, run by `JobRunner` on a veth lab: frames
/// seen, sent back, kept and given back, built; every buffer accounted for at the stop.
@Suite("The job API on veth", .serialized, Root.required)
struct JobAPITests {
    /// A runner on the lab's device end, queue 0, its sockets made in the device namespace.
    static func runner(_ lab: VethLab, wait: WaitMode = .adaptive) throws -> JobRunner {
        var configuration = RunnerConfiguration(interface: lab.deviceInterface)
        configuration.umemSizeMiB = 16
        configuration.hugepages = .smallPages
        configuration.poll.wait = wait
        let planned = configuration
        return try lab.run(in: .device) { try JobRunner(configuration: planned, logger: TestLog.logger) }
    }

    /// Waits until `condition` holds for the runner's first sample, or 3 s pass.
    static func waitFor(_ runner: JobRunner, _ condition: (QueueSample) -> Bool) -> Bool {
        eventually(timeout: .seconds(3)) { runner.samples().first.map(condition) ?? false }
    }

    /// Counts frames and their bytes, reading each frame's sequence number through its span.
    struct CountingJob: PacketJob {
        let seen: LockedValue<[UInt64]>
        func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
            while let frame = frames.next() {
                let sequence = frame.withBytes { bytes in
                    bytes.byteCount >= 22 ? UInt64(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 14, as: UInt64.self)) : .max
                }
                seen.withLock { $0.append(sequence) }
                context.release(frame)
            }
        }
    }

    @Test("a job that releases every frame sees each one once, in order; the drain report is clean")
    func countAndRelease() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let runner = try Self.runner(lab)
        let seen = LockedValue<[UInt64]>([])
        runner.start { _ in CountingJob(seen: seen) }
        // Bursts the RX ring (2048) holds, each taken before the next: none is dropped.
        for burst in 1...3 {
            try DaemonTests.generate(lab, count: 1000, length: 64, first: UInt64(burst - 1) * 1000)
            #expect(Self.waitFor(runner) { $0.statistics.rxPackets == UInt64(burst) * 1000 })
        }
        let sample = try #require(runner.samples().first)
        #expect(sample.statistics.released == 3000)
        #expect(sample.program.redirected == 3000)
        let drain = runner.stop()
        #expect(drain.isClean, "\(drain)")
        #expect(drain.failures.isEmpty)
        #expect(drain.reports.first?.stillInApplication == 0)
        let sequences = seen.withLock { $0 }
        #expect(sequences.count == 3000)
        #expect(sequences == Array(0..<3000), "first out of order: \(String(describing: zip(sequences, 0...).first { $0 != $1 }))")
    }

    /// Keeps every frame until the stop: the census shows them with the application.
    struct KeepingJob: PacketJob {
        var kept: [KeptFrame] = []
        let gaveBack: LockedValue<Int>
        mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
            while let frame = frames.next() { kept.append(context.keep(frame)) }
        }
        mutating func stop(context: inout JobContext) {
            for frame in kept { context.release(frame) }
            gaveBack.withLock { $0 = kept.count }
            kept.removeAll()
        }
    }

    @Test("a job that keeps frames holds them in the census until it gives them back at the stop")
    func keepAndGiveBack() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let runner = try Self.runner(lab)
        let gaveBack = LockedValue(0)
        runner.start { _ in KeepingJob(gaveBack: gaveBack) }
        try DaemonTests.generate(lab, count: 500)
        #expect(Self.waitFor(runner) { $0.statistics.rxPackets == 500 && $0.inApplication == 500 })
        let drain = runner.stop()
        #expect(gaveBack.withLock { $0 } == 500)
        #expect(drain.isClean, "\(drain)")
        #expect(drain.reports.first?.statistics.released == 500)
    }

    /// Swaps MAC addresses through the bounds-checked span and sends each frame back.
    struct SpanReflector: PacketJob {
        func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
            while var frame = frames.next() {
                frame.withMutableBytes { bytes in
                    for index in 0..<6 {
                        let destination = bytes.unsafeLoad(fromByteOffset: index, as: UInt8.self)
                        let source = bytes.unsafeLoad(fromByteOffset: index + 6, as: UInt8.self)
                        bytes.storeBytes(of: source, toByteOffset: index, as: UInt8.self)
                        bytes.storeBytes(of: destination, toByteOffset: index + 6, as: UInt8.self)
                    }
                }
                context.transmit(frame)
            }
        }
    }

    @Test("a job that transmits on its own port: frames come back swapped, all completed")
    func reflectThroughTheAPI() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let far = try XSKHarness(lab: lab, side: .generator)
        let runner = try Self.runner(lab)
        runner.start { _ in SpanReflector() }
        try DaemonTests.generate(lab, count: 1000)
        var sequences: [UInt64] = []
        var swapped = true
        let deadline = ContinuousClock.now + .seconds(3)
        while sequences.count < 1000, ContinuousClock.now < deadline {
            far.receive { bytes, _ in
                sequences.append(TestFrame.sequence(in: bytes))
                if !(bytes[0..<6].elementsEqual([0x02, 0, 0, 0, 0, 1]) && bytes[6..<12].allSatisfy { $0 == 0xFF }) { swapped = false }
            }
        }
        #expect(sequences.count >= 950 && sequences.count <= 1000, "\(sequences.count) came back")
        #expect(swapped)
        #expect(Self.waitFor(runner) { $0.statistics.completions == 1000 })
        let sample = try #require(runner.samples().first)
        #expect(sample.statistics.forwarded == 1000)
        #expect(sample.statistics.transmitRingFullDrops == 0)
        let drain = runner.stop()
        #expect(drain.isClean, "\(drain)")
        try far.tearDown()
    }

    /// Builds `count` numbered frames in TX buffers, then says it has finished. Never reads
    /// what it receives (the runner releases it).
    struct CountedGenerator: PacketJob {
        let count: Int
        var sent = 0
        func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {}
        mutating func produce(context: inout JobContext) -> Int {
            guard sent < count else {
                context.finish()
                return 0
            }
            var built = 0
            while sent < count, built < context.transmitSpace(), var frame = context.makeFrame(length: 96) {
                let template = TestFrame.make(length: 96, sequence: UInt64(sent))
                frame.withMutableBytes { bytes in
                    for (index, byte) in template.enumerated() { bytes.storeBytes(of: byte, toByteOffset: index, as: UInt8.self) }
                }
                context.transmit(frame)
                sent += 1
                built += 1
            }
            return built
        }
    }

    @Test("a transmit-only job builds frames through makeFrame; they arrive numbered, and the runner sees it finish")
    func generatorThroughTheAPI() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let far = try XSKHarness(lab: lab, side: .generator, rxSize: 4096, fillCount: 4096)
        let runner = try Self.runner(lab, wait: .poll)
        runner.start { _ in CountedGenerator(count: 200) }
        var sequences: [UInt64] = []
        let deadline = ContinuousClock.now + .seconds(3)
        while sequences.count < 200, ContinuousClock.now < deadline {
            far.receive { bytes, _ in sequences.append(TestFrame.sequence(in: bytes)) }
        }
        #expect(sequences == Array(0..<200))
        #expect(runner.wait(timeout: .seconds(3)) == .finished)
        #expect(runner.allFinished)
        #expect(Self.waitFor(runner) { $0.statistics.completions == 200 })
        let drain = runner.stop()
        #expect(drain.isClean, "\(drain)")
        #expect(runner.samples().first?.statistics.completions == 200, "the final counters, after the stop")
        try far.tearDown()
    }

    @Test("a run with no queue is refused, and a queue that fails set-up ends wait() with .failed")
    func refusals() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let interface = lab.deviceInterface
        #expect(throws: RunnerError.self) {
            try lab.run(in: .device) { try JobRunner(configuration: RunnerConfiguration(interface: interface, queues: [])) }
        }
        let runner = try Self.runner(lab)
        struct Refused: Error {}
        runner.start { _ -> CountedGenerator in throw Refused() }
        #expect(runner.wait(timeout: .seconds(3)) == .failed)
        #expect(runner.failures.first?.contains("the job could not start") == true)
        #expect(runner.stop().isClean)
    }
}
