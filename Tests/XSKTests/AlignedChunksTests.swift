import Foundation
import Testing
import VethLab
import TestSupport
import XSK
import PageFrag

/// How descriptor addresses name buffers in the two chunk modes. Pure logic: no root.
@Suite("BufferAddressing: aligned and unaligned chunks")
struct BufferAddressingTests {
    @Test("unaligned: the start in the low 48 bits, the offset in the high 16; any start")
    func unaligned() {
        let addressing = BufferAddressing(aligned: false, chunkSize: 2048)
        let address = addressing.address(start: 1856, offset: 256)
        #expect(address == 1856 | 256 << 48)
        #expect(addressing.start(of: address) == 1856 && addressing.offset(of: address) == 256)
        // A plain address (what a built frame carries): itself, offset 0.
        #expect(addressing.start(of: 70_000) == 70_000 && addressing.offset(of: 70_000) == 0)
    }

    @Test("aligned: the address is the data's own; its chunk is the buffer", arguments: [2048, 4096])
    func aligned(chunk: Int) {
        let addressing = BufferAddressing(aligned: true, chunkSize: chunk)
        let start = UInt64(chunk * 37)
        let address = addressing.address(start: start, offset: 256)
        #expect(address == start + 256)
        #expect(addressing.start(of: address) == start && addressing.offset(of: address) == 256)
        #expect(addressing.start(of: start + UInt64(chunk) - 1) == start)
        #expect(addressing.offset(of: start + UInt64(chunk) - 1) == UInt64(chunk) - 1)
    }
}

/// Aligned chunk mode on veth: every buffer one chunk at a chunk-aligned offset, received, sent
/// and chained as in unaligned mode, every buffer home at the stop.
@Suite("aligned UMEM chunks on veth", .serialized, Root.required)
struct AlignedChunksTests {
    /// A socket on queue 0 of the device end over an aligned UMEM of `chunk`-byte chunks.
    static func alignedSocket(
        _ lab: VethLab, pool: PagePool, chunk: UInt32 = 2048, multiBuffer: XSKSocket.MultiBuffer = .off
    ) throws -> XSKSocket {
        var umem = Umem.Configuration()
        umem.unalignedChunks = false
        umem.chunkSize = chunk
        return try JumboFrameTests.socket(on: lab, pool: pool, multiBuffer: multiBuffer, umem: umem)
    }

    /// Receives up to `count` frames within two seconds, checks each one's buffers, and sends
    /// them back out of the same queue; returns how many were received and sent.
    static func reflect(_ queue: inout XSKQueue, count: Int, check: (ReceivedFrame) -> Void) -> Int {
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var received = 0
        let deadline = ContinuousClock.now + .seconds(2)
        while received < count, ContinuousClock.now < deadline {
            let taken = queue.receive(into: frames)
            for frame in frames.prefix(taken) { check(frame) }
            var queued = 0
            while queued < taken, ContinuousClock.now < deadline {
                queued += queue.transmit(UnsafeBufferPointer(rebasing: frames[queued..<taken]))
                queue.reapCompletions()
            }
            queue.forwarded(queued)
            received += taken
        }
        while queue.transmitOutstanding > 0, ContinuousClock.now < deadline + .seconds(1) {
            try? queue.wakeTransmit()
            queue.reapCompletions()
        }
        return received
    }

    @Test("single-buffer: fill buffers of one whole chunk at chunk multiples, frames received at chunk + 256 and sent back from there, TX buffers whole chunks; every buffer home")
    func singleBuffer() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs)
        defer { link.detach() }
        let farPrograms = try XDPPrograms(logger: TestLog.logger)
        let farLink = try XSKQueueTests.attach(lab, farPrograms, side: .generator)
        defer { farLink.detach() }
        let pool = try XSKQueueTests.pool()
        let socket = try Self.alignedSocket(lab, pool: pool)
        try programs.insertSocket(socket.descriptor, queue: 0)
        var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
        #expect(queue.addressing.aligned && queue.fragmentSize == 2048 && queue.frameLimit == 1792)

        try XSKQueueTests.generate(lab, programs, count: 500, length: 64)
        try XSKQueueTests.generate(lab, programs, count: 500, length: 1514, first: 500)
        var (misplaced, sequences) = (0, Set<UInt64>())
        let reflected = Self.reflect(&queue, count: 1000) { frame in
            if frame.fragment.offset % 2048 != 0 || frame.fragment.length != 2048 || frame.address != frame.fragment.offset + 256 {
                misplaced += 1
            }
            let bytes = UnsafeRawBufferPointer(start: pool.base + Int(frame.dataOffset), count: Int(frame.length))
            sequences.insert(TestFrame.sequence(in: bytes))
        }
        #expect(reflected == 1000)
        #expect(misplaced == 0)
        #expect(sequences == Set(0..<1000))
        #expect(queue.statistics.completions == 1000)
        #expect(try farPrograms.counters(queue: 0).passed == 1000)

        // A frame built here: its TX buffer is a whole chunk whatever the length asked.
        let allocated = queue.allocateTransmitBuffer(length: 100)
        let fragment = try #require(allocated)
        #expect(fragment.offset % 2048 == 0 && fragment.length == 2048)
        (pool.base + Int(fragment.offset)).copyMemory(from: TestFrame.make(length: 100, sequence: 7), byteCount: 100)
        var built = ReceivedFrame(fragment: fragment, address: fragment.offset, length: 100)
        #expect(withUnsafePointer(to: &built) { queue.transmit(UnsafeBufferPointer(start: $0, count: 1)) } == 1)
        #expect(eventually(timeout: .seconds(2)) {
            try? queue.wakeTransmit()
            queue.reapCompletions()
            return queue.transmitOutstanding == 0
        })
        #expect(try farPrograms.counters(queue: 0).passed == 1001)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0 && report.statistics.invalidAddresses == 0)
        try pool.verifyQuiescent()
    }

    @Test("released chunks go straight back to the fill ring: 3 rounds of 2000 frames land in no more chunks than the first round needed, every one of them kept for the fill ring at the end; every buffer home")
    func releasedChunksRecycle() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        let socket = try Self.alignedSocket(lab, pool: pool)
        try programs.insertSocket(socket.descriptor, queue: 0)
        var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
        let fillLimit = Int(queue.statistics.fillPosted)
        #expect(fillLimit == 2048)

        var chunks = Set<UInt64>()
        var received = 0
        var carvedAfterFirstRound = 0
        // Rounds under the RX ring's 2048 slots, so nothing is dropped while a round waits.
        for round in 0..<3 {
            try XSKQueueTests.generate(lab, programs, count: 2000, length: 64, first: UInt64(round * 2000))
            let (posted, recycled) = (queue.statistics.fillPosted, queue.statistics.fillRecycled)
            received += XSKQueueTests.receiveAndRelease(&queue, count: 2000) { chunks.insert($0.fragment.offset) }
            if round > 0 {
                let statistics = queue.statistics
                carvedAfterFirstRound += Int((statistics.fillPosted - posted) - (statistics.fillRecycled - recycled))
            }
        }
        #expect(received == 6000)
        // The first receive tops the fill ring up for all 2000 frames the kernel took before the
        // job gave any back: that many fresh chunks once, then the same ones round after round.
        #expect(carvedAfterFirstRound == 0)
        #expect(chunks.count <= fillLimit + 2000, "\(chunks.count) distinct chunks for 6000 frames")
        let census = queue.census
        #expect(census.inApplication == 0)
        #expect(census.inFillRing + census.withKernelForReceive == fillLimit)
        // Every chunk that ever held a frame is on the fill side again or kept for it.
        #expect(census.inFillRing + census.withKernelForReceive + census.keptForFill >= chunks.count)
        #expect(census.keptForFill > 0 && census.keptForFill <= fillLimit)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0 && report.statistics.invalidAddresses == 0)
        #expect(report.reclaimedFromKernel == fillLimit, "the kept chunks are the queue's own, not the kernel's")
        try pool.verifyQuiescent()
    }

    @Test("multi-buffer at MTU 9000: 3000-byte chains whole from the start (no frame limit to raise), each buffer a chunk, reflected whole; every buffer home")
    func chains() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs, program: .redirectFrags)
        defer { link.detach() }
        let pool = try XSKQueueTests.pool()
        let socket = try Self.alignedSocket(lab, pool: pool, multiBuffer: .on)
        try programs.insertSocket(socket.descriptor, queue: 0)
        var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
        #expect(queue.limit.takesChains && queue.frameLimit == 1792 * FrameChain.receiveLimit)

        try XSKQueueTests.generate(lab, programs, count: 300, length: 3000)
        var (whole, misplaced) = (0, 0)
        let reflected = Self.reflect(&queue, count: 300) { frame in
            if frame.segments == 2 && frame.length == 3000 { whole += 1 }
            FrameChain.forEachBuffer(of: frame, base: pool.base) { buffer in
                if buffer.fragment.offset % 2048 != 0 || buffer.address != buffer.fragment.offset + 256 { misplaced += 1 }
            }
        }
        #expect(reflected == 300 && whole == 300 && misplaced == 0)
        #expect(queue.statistics.txChains == 300 && queue.statistics.completions == 600)
        #expect(queue.statistics.chainsDiscarded == 0)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0 && report.statistics.invalidAddresses == 0)
        try pool.verifyQuiescent()
    }

    @Test("descriptor slots on aligned 4096-byte chunks are refused, naming the sizes: half pages are not chunks")
    func slotsNeedHalfPageChunks() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs)
        defer { link.detach() }
        let pool = try XSKQueueTests.pool()
        let socket = try Self.alignedSocket(lab, pool: pool, chunk: 4096)
        var configuration = XSKQueue.Configuration()
        configuration.fillStrategy = .descriptorSlots
        #expect {
            _ = try XSKQueue(socket: socket, programs: programs, configuration: configuration, logger: TestLog.logger)
        } throws: { error in
            "\(error)".contains("2048-byte buffers") && "\(error)".contains("aligned 4096-byte chunks")
        }
        try pool.verifyQuiescent()
    }
}
