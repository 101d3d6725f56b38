import CShims
import Foundation
import PageFrag
import Testing
import VethLab
@testable import XSK
import TestSupport

/// Faults at the queue's level, on real rings: a consumer that falls behind, a job that holds
/// every buffer until the UMEM runs out, and descriptors that are not what the queue handed out.
@Suite("XSKQueue faults on veth", .serialized, Root.required)
struct QueueFaultTests {
    typealias Harness = XSKQueueTests

    /// Receives until `limit` frames or an empty ring, giving each back at once; returns how many.
    static func receiveAndRelease(_ queue: inout XSKQueue, _ frames: UnsafeMutableBufferPointer<ReceivedFrame>, upTo limit: Int) -> Int {
        var received = 0
        while received < limit {
            let count = queue.receive(into: frames)
            if count == 0 { break }
            for frame in frames.prefix(count) { queue.release(frame) }
            received += count
        }
        return received
    }

    @Test("a consumer that falls behind: the RX ring fills, the kernel drops and counts, and the next burst arrives whole")
    func consumerFallsBehind() throws {
        let fixture = try QueueFixture(poolSize: 32 << 20)
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }

        // The consumer is away while 6000 frames arrive for a 2048-slot RX ring.
        try Harness.generate(lab, programs, count: 6000, length: 64)
        // In copy mode the fill ring holds no more than the RX ring (FillSource.init): both
        // run out at the same frame, and the kernel counts the drops on whichever it checks
        // first (the fill ring, on this kernel).
        let kernel = try queue.socket.statistics()
        #expect(kernel.rxRingFull + kernel.rxFillRingEmpty > 0, "\(kernel)")
        // It catches up: exactly a ring's worth was kept, in order.
        var received = 0
        var sequences: [UInt64] = []
        while true {
            let count = queue.receive(into: frames)
            if count == 0 { break }
            for frame in frames.prefix(count) {
                sequences.append(TestFrame.sequence(in: UnsafeRawBufferPointer(start: pool.base + Int(frame.dataOffset), count: Int(frame.length))))
                queue.release(frame)
            }
            received += count
        }
        #expect(received == queue.socket.rx.size)
        #expect(sequences == sequences.sorted())
        // Caught up, it takes a whole burst again.
        try Harness.generate(lab, programs, count: 1000, length: 64, first: 100_000)
        #expect(Self.receiveAndRelease(&queue, frames, upTo: 1000) == 1000)
        let after = try queue.socket.statistics()
        #expect(after.rxRingFull == kernel.rxRingFull, "no drop once caught up")
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("a job that holds every buffer: the UMEM runs dry, the fill ring empties, both sides count it, and traffic resumes once it lets go")
    func jobHoldsEveryBuffer() throws {
        // 2 MiB of 32 KiB pages: 18 fragments of 1792 bytes a page, 1152 in all, for a
        // 4096-slot fill ring.
        let fixture = try QueueFixture(poolSize: 2 << 20)
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        let capacity = (32768 / queue.fragmentSize) * (pool.size / 32768)
        #expect(queue.statistics.fillPosted == UInt64(capacity))
        #expect(queue.statistics.fillShortfalls > 0)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }

        try Harness.generate(lab, programs, count: 3000, length: 64)
        var held: [ReceivedFrame] = []
        while true {
            let count = queue.receive(into: frames)
            if count == 0 { break }
            held.append(contentsOf: frames.prefix(count))
        }
        #expect(held.count == capacity)
        let kernel = try queue.socket.statistics()
        #expect(kernel.rxFillRingEmpty > 0, "\(kernel)")
        #expect(kernel.rxDropped > 0, "\(kernel)")
        #expect(queue.census.inApplication == capacity)
        #expect(queue.census.inFillRing == 0)
        #expect(queue.allocateTransmitBuffer(length: 64) == nil)
        #expect(queue.statistics.transmitAllocationFailures == 1)
        #expect(pool.census().freeBytes == 0)

        // The job lets go: the fill ring fills again and the next burst arrives whole.
        for frame in held { queue.release(frame) }
        held.removeAll()
        #expect(queue.refill() > 0)
        try Harness.generate(lab, programs, count: 1000, length: 64, first: 100_000)
        #expect(Self.receiveAndRelease(&queue, frames, upTo: 1000) == 1000)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0)
        try pool.verifyQuiescent()
        #expect(pool.census().outstandingFragments == 0)
    }

    @Test("TX buffers taken until the UMEM has none: allocation fails cleanly and is counted; given back, the census is zero")
    func transmitBuffersExhausted() throws {
        let fixture = try QueueFixture(poolSize: 8 << 20)
        defer { fixture.tearDown() }
        let (programs, pool) = (fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        var taken: [Fragment] = []
        while let fragment = queue.allocateTransmitBuffer(length: 1024) {
            taken.append(fragment)
            try #require(taken.count < pool.size / 1024, "the pool cannot hold more than its size")
        }
        #expect(!taken.isEmpty)
        #expect(queue.statistics.transmitAllocationFailures == 1)
        #expect(queue.allocateTransmitBuffer(length: 64) == nil)
        #expect(queue.statistics.transmitAllocationFailures == 2)
        // Nothing overlaps: each buffer is its own.
        let starts = taken.map(\.offset).sorted()
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $1 - $0 >= 1024 })
        for fragment in taken { queue.releaseTransmitBuffer(fragment) }
        let again = try unwrap(queue.allocateTransmitBuffer(length: 1024))
        queue.releaseTransmitBuffer(again)
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
        #expect(pool.census().outstandingFragments == 0)
    }

    @Test("descriptors are checked: RX and completion addresses the queue never gave, and lengths past the buffer, are counted and skipped")
    func descriptorsValidated() throws {
        let fixture = try QueueFixture()
        defer { fixture.tearDown() }
        let (lab, programs, pool) = (fixture.lab, fixture.programs, fixture.pool)
        var queue = try fixture.makeQueue()
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }

        // Three real frames, then the RX ring is tampered with as a faulty kernel or a stray
        // writer could: the middle frame's length runs past its buffer, and two descriptors
        // follow that point outside the UMEM and at a buffer never posted.
        try Harness.generate(lab, programs, count: 3, length: 64)
        let rx = queue.socket.rx.ring
        let consumer = rx.pointee.consumer.pointee
        #expect(eventually { cshims_load_acquire_u32(rx.pointee.producer) &- consumer == 3 })
        let producer = cshims_load_acquire_u32(rx.pointee.producer)
        let descriptors = rx.pointee.ring.assumingMemoryBound(to: xdp_desc.self)
        descriptors[Int((producer &- 2) & rx.pointee.mask)].len = 4000
        descriptors[Int(producer & rx.pointee.mask)] = xdp_desc(addr: UInt64(pool.size) + 4096, len: 64, options: 0)
        descriptors[Int((producer &+ 1) & rx.pointee.mask)] = xdp_desc(addr: UInt64(pool.size) - 64, len: 64, options: 0)
        rx.pointee.producer.pointee = producer &+ 2

        let count = queue.receive(into: frames)
        #expect(count == 2)
        #expect(frames.prefix(count).map { TestFrame.sequence(in: UnsafeRawBufferPointer(start: pool.base + Int($0.dataOffset), count: Int($0.length))) } == [0, 2])
        for frame in frames.prefix(count) { queue.release(frame) }
        #expect(queue.statistics.invalidAddresses == 2)
        #expect(queue.statistics.invalidLengths == 1)

        // The completion ring: an address outside the UMEM, and one the fill ring holds (never
        // sent: freeing it would hand the kernel's receive buffer to the TX cache).
        let fill = queue.socket.fill.ring
        let inFillRing = fill.pointee.ring.assumingMemoryBound(to: UInt64.self)[Int((fill.pointee.cached_prod &- 1) & fill.pointee.mask)]
        let completion = queue.socket.completion.ring
        let completionProducer = cshims_load_acquire_u32(completion.pointee.producer)
        let addresses = completion.pointee.ring.assumingMemoryBound(to: UInt64.self)
        addresses[Int(completionProducer & completion.pointee.mask)] = UInt64(pool.size) + 8192
        addresses[Int((completionProducer &+ 1) & completion.pointee.mask)] = inFillRing
        completion.pointee.producer.pointee = completionProducer &+ 2
        #expect(queue.reapCompletions() == 0)
        #expect(queue.statistics.invalidAddresses == 4)
        #expect(queue.statistics.completions == 0)

        // The buffer with the bad length came home with the rest.
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0)
        try pool.verifyQuiescent()
    }
}
