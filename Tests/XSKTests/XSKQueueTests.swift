import CShims
import Foundation
import PageFrag
import Testing
import TestSupport
import VethLab
@testable import XSK

/// Ring-level buffer management under real traffic: every buffer accounted for, teardown
/// giving everything back, the fill fragments sized from the MTU and safe when it changes.
@Suite("XSKQueue: ring-level buffers on veth", .serialized, Root.required)
struct XSKQueueTests {
    /// A socket on the lab's device end (queue `queue`), its program attached, on `pool`.
    static func socket(
        _ lab: VethLab, pool: PagePool, programs: XDPPrograms, queue: UInt32 = 0, umem: Umem? = nil
    ) throws -> XSKSocket {
        let interface = lab.deviceInterface
        let socket = try lab.run(in: .device) {
            try XSKSocket(
                umem: umem ?? Umem(pool: pool, logger: TestLog.logger),
                configuration: .init(interface: interface, queue: queue), logger: TestLog.logger)
        }
        try programs.insertSocket(socket.descriptor, queue: queue)
        return socket
    }

    static func attach(
        _ lab: VethLab, _ programs: XDPPrograms, side: VethLab.Side = .device, program: XDPPrograms.Program = .redirect
    ) throws -> XDPLink {
        let interface = lab.interface(side)
        return try lab.run(in: side) { try programs.attach(program, to: NetworkInterface(named: interface), mode: .native) }
    }

    static func generate(_ lab: VethLab, _ programs: XDPPrograms, count: Int, length: Int, first: UInt64 = 0) throws {
        try lab.run(in: .generator) {
            try programs.generate(
                frame: TestFrame.make(length: length), count: count,
                on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset,
                firstSequence: first)
        }
    }

    static func pool(size: Int = 16 << 20, order: Int = 3) throws -> PagePool {
        try PagePool(configuration: .init(size: size, pageOrder: order, backing: .smallPages, tracksFragments: true), logger: TestLog.logger)
    }

    @Test("fragments are sized from the MTU: 1792 bytes for 1500, packed across 4 KiB lines")
    func fragmentSizing() {
        #expect(XSKQueue.fragmentSize(mtu: 1500, headroom: 0, alignment: 64, chunkSize: 2048) == 1792)
        #expect(XSKQueue.fragmentSize(mtu: 1500, headroom: 128, alignment: 64, chunkSize: 2048) == 1920)
        #expect(XSKQueue.fragmentSize(mtu: 9000, headroom: 0, alignment: 64, chunkSize: 2048) == 2048)
        #expect(XSKQueue.fragmentSize(mtu: 576, headroom: 0, alignment: 64, chunkSize: 2048) == 896)
    }

    static func configuration(_ strategy: XSKQueue.FillStrategy) -> XSKQueue.Configuration {
        var configuration = XSKQueue.Configuration()
        configuration.fillStrategy = strategy
        return configuration
    }

    @Test("start, receive under traffic, stop: every buffer comes home", arguments: XSKQueue.FillStrategy.allCases)
    func startRunStop(strategy: XSKQueue.FillStrategy) throws {
        let fixture = try QueueFixture(poolSize: 32 << 20)
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try XSKQueue(
            socket: Self.socket(lab, pool: pool, programs: programs), programs: programs,
            configuration: Self.configuration(strategy), logger: TestLog.logger)
        #expect(queue.fragmentSize == (strategy == .fragmentCache ? 1792 : 2048))
        #expect(queue.frameLimit == queue.fragmentSize - 256)
        // Copy mode (veth): a 4096-slot fill ring holds no more than the 2048-slot RX ring can
        // take back (FillSource.init says why).
        let posted = queue.statistics.fillPosted
        #expect(posted == 2048)
        #expect(queue.census.inFillRing == 2048)

        // Fewer frames than the RX ring holds (2048), so none is dropped while the test waits.
        try Self.generate(lab, programs, count: 2000, length: 64)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var received = 0
        var batches: UInt64 = 0
        var sequence: UInt64 = 0
        while received < 2000 {
            let count = queue.receive(into: frames)
            if count == 0 { break }
            batches += 1
            for frame in frames.prefix(count) {
                let bytes = UnsafeRawBufferPointer(start: pool.base + Int(frame.dataOffset), count: Int(frame.length))
                #expect(TestFrame.sequence(in: bytes) == sequence)
                sequence += 1
                queue.release(frame)
            }
            received += count
        }
        #expect(received == 2000)
        // Every non-empty receive is one batch of at most 64; the sleep below is the only
        // system call this test asked the queue to make.
        #expect(queue.statistics.receiveBatches == batches)
        #expect(batches >= 2000 / 64)
        #expect(try queue.sleep(timeoutMilliseconds: 1) == false)
        #expect(queue.statistics.sleeps == 1)
        #expect(queue.statistics.receiveWakeups == 0)
        let census = queue.census
        #expect(census.inApplication == 0)
        #expect(census.inFillRing + census.withKernelForReceive == 2048)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0)
        #expect(report.reclaimedFromKernel == 2048)
        try pool.verifyQuiescent()
    }

    /// Receives up to `count` frames within two seconds, showing each to `look` and giving it
    /// back at once (a drop job); returns how many came.
    static func receiveAndRelease(_ queue: inout XSKQueue, count: Int, look: (ReceivedFrame) -> Void = { _ in }) -> Int {
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var received = 0
        let deadline = ContinuousClock.now + .seconds(2)
        while received < count, ContinuousClock.now < deadline {
            let taken = queue.receive(into: frames)
            for frame in frames.prefix(taken) {
                look(frame)
                queue.release(frame)
            }
            received += taken
        }
        return received
    }

    @Test("the fill limit counts what came back: after a partial burst the kernel holds the limit again, and a burst after it arrives whole")
    func fillFollowsWhatCameBack() throws {
        let fixture = try QueueFixture(poolSize: 32 << 20)
        defer { fixture.tearDown() }
        let (lab, programs) = (fixture.lab, fixture.programs)
        var queue = try fixture.makeQueue()
        let limit = Int(queue.statistics.fillPosted)
        #expect(limit == 2048)
        // 1000 of the 2048 buffers come back: all 1000 go on the fill ring again.
        try Self.generate(lab, programs, count: 1000, length: 64)
        #expect(Self.receiveAndRelease(&queue, count: 1000) == 1000)
        let census = queue.census
        #expect(census.inFillRing + census.withKernelForReceive == limit, "the 1000 buffers that came back are posted again")
        // 2000 more: had the 1000 not been posted again, the kernel would drop 952 of them for
        // want of a buffer.
        let before = try queue.socket.statistics()
        try Self.generate(lab, programs, count: 2000, length: 64, first: 1000)
        #expect(Self.receiveAndRelease(&queue, count: 2000) == 2000)
        let after = try queue.socket.statistics()
        #expect(after.rxFillRingEmpty == before.rxFillRingEmpty && after.rxDropped == before.rxDropped)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0)
        try fixture.pool.verifyQuiescent()
    }

    @Test("a frame the application keeps past stop is reported, not freed; freeing it makes the pool quiescent")
    func keptFrameReported() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        try Self.generate(lab, programs, count: 10, length: 64)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        #expect(queue.receive(into: frames) == 10)
        let kept = frames[0]
        for frame in frames[1..<10] { queue.release(frame) }
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 1)
        do {
            try pool.verifyQuiescent()
            Issue.record("a kept frame must keep the pool from being quiescent")
        } catch {
            #expect(error.census.outstandingFragments == 1)
            #expect(error.census.releasedPages == 1)
            #expect(error.census.pages.first?.page == pool.page(containing: kept.fragment.offset))
        }
        // Still valid memory: the page was not returned under the application.
        let bytes = UnsafeRawBufferPointer(start: pool.base + Int(kept.dataOffset), count: Int(kept.length))
        #expect(TestFrame.sequence(in: bytes) == 0)
        pool.free(kept.fragment)
        try pool.verifyQuiescent()
    }

    @Test("frames received on one queue are sent out of another sharing the UMEM, without a copy")
    func forwardAcrossQueues() throws {
        let lab = try VethLab(queues: 2)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try Self.attach(lab, programs)
        defer { link.detach() }
        // The far end counts what comes back with its own program.
        let farPrograms = try XDPPrograms(logger: TestLog.logger)
        let farLink = try Self.attach(lab, farPrograms, side: .generator)
        defer { farLink.detach() }
        let pool = try Self.pool()
        let first = try Self.socket(lab, pool: pool, programs: programs, queue: 0)
        let second = try Self.socket(lab, pool: pool, programs: programs, queue: 1, umem: first.umem)
        var receiving = try XSKQueue(socket: first, programs: programs, logger: TestLog.logger)
        var sending = try XSKQueue(socket: second, programs: programs, logger: TestLog.logger)

        try lab.run(in: .generator) {
            try pinCurrentThread(to: 0)  // veth: CPU 0 sends to queue 0
            try programs.generate(
                frame: TestFrame.make(length: 64), count: 500,
                on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset)
        }
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var forwarded = 0
        let deadline = ContinuousClock.now + .seconds(2)
        while forwarded < 500, ContinuousClock.now < deadline {
            let count = receiving.receive(into: frames)
            var sent = 0
            while sent < count {
                sent += sending.transmit(UnsafeBufferPointer(rebasing: frames[sent..<count]))
                sending.reapCompletions()
            }
            receiving.forwarded(count)
            forwarded += count
        }
        #expect(forwarded == 500)
        while sending.statistics.completions < 500, ContinuousClock.now < deadline + .seconds(1) {
            try? sending.socket.wakeTransmit()
            sending.reapCompletions()
        }
        #expect(sending.statistics.completions == 500)
        let far = try (0..<2).map { try farPrograms.counters(queue: UInt32($0)).passed }.reduce(0, +)
        #expect(far == 500)
        _ = sending.stop(programs: programs)
        _ = receiving.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("frames the application builds in TX fragments go out, and their completions free them")
    func transmitBuiltFrames() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try Self.attach(lab, programs)
        defer { link.detach() }
        let farPrograms = try XDPPrograms(logger: TestLog.logger)
        let farLink = try Self.attach(lab, farPrograms, side: .generator)
        defer { farLink.detach() }
        let pool = try Self.pool()
        var queue = try XSKQueue(socket: Self.socket(lab, pool: pool, programs: programs), programs: programs, logger: TestLog.logger)
        let outgoing = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 32)
        defer { outgoing.deallocate() }
        var sent = 0
        var batches: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(2)
        while sent < 1000, ContinuousClock.now < deadline {
            var built = 0
            // Arbitrary lengths, as sk_buff heads are: each frame a fragment of its own size.
            while built < 32, sent + built < 1000 {
                let length = 60 + (sent + built) % 200
                guard let fragment = queue.allocateTransmitBuffer(length: length) else { break }
                let bytes = UnsafeMutableRawBufferPointer(start: pool.base + Int(fragment.offset), count: length)
                bytes.copyBytes(from: TestFrame.make(length: length, sequence: UInt64(sent + built)))
                outgoing[built] = ReceivedFrame(fragment: fragment, address: fragment.offset, length: UInt32(length))
                built += 1
            }
            var queued = 0
            while queued < built {
                let taken = queue.transmit(UnsafeBufferPointer(rebasing: outgoing[queued..<built]))
                if taken > 0 { batches += 1 }
                queued += taken
                queue.reapCompletions()
            }
            sent += built
        }
        var extraKicks: UInt64 = 0
        while queue.statistics.completions < 1000, ContinuousClock.now < deadline + .seconds(1) {
            try? queue.wakeTransmit()
            extraKicks += 1
            queue.reapCompletions()
        }
        #expect(queue.statistics.completions == 1000)
        // Copy mode always asks for a TX wakeup: one sendto per batch, plus the test's own.
        #expect(queue.statistics.transmitBatches == batches)
        #expect(queue.statistics.transmitWakeups == batches + extraKicks)
        #expect(try farPrograms.counters(queue: 0).passed == 1000)
        let report = queue.stop(programs: programs)
        #expect(report.statistics.txPackets == 1000)
        try pool.verifyQuiescent()
    }

    @Test("ring level: a fill cache's pages are left busy (the fill ring holds their newest fragments) and come home once their frames are freed")
    func ringLevelPagesComeHome() throws {
        let fixture = try QueueFixture(poolSize: 32 << 20)
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        for _ in 0..<10 {
            try Self.generate(lab, programs, count: 2000, length: 64)
            while true {
                let count = queue.receive(into: frames)
                if count == 0 { break }
                for frame in frames.prefix(count) { queue.release(frame) }
            }
        }
        let statistics = queue.census.cacheStatistics
        // A fill ring 2048 deep (copy mode's limit, the RX ring's size) never lets a 32 KiB page (18 fragments) be used up idle: the
        // ring always holds its newest fragments. That is what descriptor-level reuse is for.
        #expect(statistics.pagesReusedInPlace == 0)
        #expect(statistics.pagesReleasedBusy > 1000)
        // Yet the pages come home: only those still holding posted fragments are out.
        let census = pool.census()
        #expect(census.outstandingFragments == 2048)
        #expect(census.releasedPages <= 2048 / 18 + 2)
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("descriptor slots: pages flip and are reused while the application frees quickly, and are let go busy while it holds")
    func descriptorReuseCounters() throws {
        let fixture = try QueueFixture(poolSize: 32 << 20)
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try XSKQueue(
            socket: Self.socket(lab, pool: pool, programs: programs), programs: programs,
            configuration: Self.configuration(.descriptorSlots), logger: TestLog.logger)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        for _ in 0..<5 {
            try Self.generate(lab, programs, count: 2000, length: 64)
            while true {
                let count = queue.receive(into: frames)
                if count == 0 { break }
                for frame in frames.prefix(count) { queue.release(frame) }
            }
        }
        let quick = try #require(queue.census.slotStatistics)
        #expect(quick.pagesReused >= 9000)
        #expect(quick.pagesBusy == 0)
        #expect(quick.pagesAllocated == 2048)  // one page per slot (copy mode: 2048), never more

        // Holding everything: once the slots wrap (2048 of them), each slot receives again while
        // the application still holds its other half.
        var held: [ReceivedFrame] = []
        for _ in 0..<3 {
            try Self.generate(lab, programs, count: 2000, length: 64)
            while true {
                let count = queue.receive(into: frames)
                if count == 0 { break }
                held += frames.prefix(count)
            }
        }
        let holding = try #require(queue.census.slotStatistics)
        #expect(holding.pagesBusy > 0)
        #expect(holding.pagesAllocated > quick.pagesAllocated)
        for frame in held { queue.release(frame) }
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("MTU-size frames land next to fragments holding live data without touching them; a raised MTU never overruns")
    func largestFramesNextToLiveData() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }

        // Every frame as long as the link allows (1500 + 14), all kept: each fragment's
        // neighbours then receive full-size frames while it holds live data.
        var kept: [ReceivedFrame] = []
        try Self.generate(lab, programs, count: 1000, length: 1514)
        while true {
            let count = queue.receive(into: frames)
            if count == 0 { break }
            kept += frames.prefix(count)
        }
        #expect(kept.count == 1000)
        // Adjacent fragments really are packed closer than the kernel's 2048-byte chunk.
        let sorted = kept.map(\.fragment.offset).sorted()
        #expect(zip(sorted, sorted.dropFirst()).contains { $1 - $0 == 1792 })

        // The link's MTU goes up to 3000; frames of 2500 bytes arrive. They would overrun a
        // 1792-byte fragment, so the program passes them to the kernel instead.
        try lab.exec(in: .device, "ip", "link", "set", lab.deviceInterface, "mtu", "3000")
        try lab.exec(in: .generator, "ip", "link", "set", lab.generatorInterface, "mtu", "3000")
        try queue.refreshMTU()
        #expect(queue.mtu == 3000)
        #expect(queue.fragmentSize == 2048)
        try Self.generate(lab, programs, count: 200, length: 2500)
        #expect(queue.receive(into: frames) == 0)
        #expect(try programs.counters(queue: 0).tooLong == 200)

        let template = TestFrame.make(length: 1514)
        for (index, frame) in kept.enumerated() {
            let bytes = UnsafeRawBufferPointer(start: pool.base + Int(frame.dataOffset), count: Int(frame.length))
            #expect(TestFrame.sequence(in: bytes) == UInt64(index))
            #expect(bytes[22...].elementsEqual(template[22...]), "frame \(index) damaged")
        }
        for frame in kept { queue.release(frame) }
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("descriptor slots on 4096-byte chunks keep their half-page limit when the MTU goes up")
    func slotsKeepTheirLimit() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var umemConfiguration = Umem.Configuration()
        umemConfiguration.chunkSize = 4096
        let largeChunks = umemConfiguration
        let umem = try lab.run(in: .device) { try Umem(pool: pool, configuration: largeChunks, logger: TestLog.logger) }
        var queue = try XSKQueue(
            socket: Self.socket(lab, pool: pool, programs: programs, umem: umem), programs: programs,
            configuration: Self.configuration(.descriptorSlots), logger: TestLog.logger)
        #expect(queue.fragmentSize == 2048 && queue.frameLimit == 1792)
        try lab.exec(in: .device, "ip", "link", "set", lab.deviceInterface, "mtu", "3000")
        try lab.exec(in: .generator, "ip", "link", "set", lab.generatorInterface, "mtu", "3000")
        try queue.refreshMTU()
        #expect(queue.mtu == 3000)
        #expect(queue.fragmentSize == 2048, "a half page, whatever the chunk")
        #expect(queue.frameLimit == 1792)
        // Frames longer than the half page stay with the kernel; none lands in a slot.
        try Self.generate(lab, programs, count: 100, length: 2500)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        #expect(queue.receive(into: frames) == 0)
        #expect(try programs.counters(queue: 0).tooLong == 100)
        #expect(queue.statistics.invalidLengths == 0)
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    // Resident memory is the wrong witness here: it is the whole test process's, and the suites
    // running beside this one (capture tests reading files back, for one) move it by tens of
    // megabytes. What a cycle could leak is its own: the socket and UMEM objects (a retain cycle
    // would keep them), the socket's descriptor and the four ring mappings the kernel made for
    // it, and the pool's pages. Each is checked for exactly the objects this cycle made.
    @Test("100 stop/start cycles under traffic: every socket, UMEM, descriptor, ring mapping and page comes back")
    func hundredCycles() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (programs, pool) = (fixture.programs, fixture.pool)
        let traffic = try BackgroundTraffic(fixture.lab, burst: 500, limit: .seconds(60))
        defer { traffic.stop() }
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var total = 0
        for cycle in 1...100 {
            weak var socket: XSKSocket?
            weak var umem: Umem?
            var inode: UInt64 = 0
            do {
                var queue = try fixture.makeQueue()
                socket = queue.socket
                umem = queue.socket.umem
                inode = try #require(KernelObjects.inode(of: queue.socket.descriptor))
                #expect(KernelObjects.ringMappings(ofSocket: inode) == 4, "fill, completion, RX and TX rings")
                let deadline = ContinuousClock.now + .milliseconds(20)
                while ContinuousClock.now < deadline {
                    let count = queue.receive(into: frames)
                    for frame in frames.prefix(count) { queue.release(frame) }
                    total += count
                }
                _ = queue.stop(programs: programs)
            }
            try pool.verifyQuiescent()
            #expect(socket == nil && umem == nil, "cycle \(cycle): the socket or its UMEM outlived its queue")
            #expect(KernelObjects.ringMappings(ofSocket: inode) == 0, "cycle \(cycle): ring mappings left")
            #expect(!KernelObjects.descriptorsOpen(onSocket: inode), "cycle \(cycle): socket descriptor left open")
        }
        #expect(total > 0)
    }
}

/// The set-up most queue tests share: a veth lab, our programs with the redirect program
/// attached to the device end, and a page pool. `tearDown()` (in a defer) detaches and
/// removes the lab; a set-up that fails half-way removes what it made.
final class QueueFixture {
    let lab: VethLab
    let programs: XDPPrograms
    let link: XDPLink
    let pool: PagePool

    init(poolSize: Int = 16 << 20, order: Int = 3) throws {
        lab = try VethLab()
        do {
            programs = try XDPPrograms(logger: TestLog.logger)
            link = try XSKQueueTests.attach(lab, programs)
            pool = try XSKQueueTests.pool(size: poolSize, order: order)
        } catch {
            lab.destroy()
            throw error
        }
    }

    /// A socket on the device end's queue 0 over a UMEM of the pool, and its queue.
    func makeQueue(configuration: XSKQueue.Configuration = .init()) throws -> XSKQueue {
        try XSKQueue(
            socket: XSKQueueTests.socket(lab, pool: pool, programs: programs), programs: programs,
            configuration: configuration, logger: TestLog.logger)
    }

    func tearDown() {
        link.detach()
        lab.destroy()
    }
}
