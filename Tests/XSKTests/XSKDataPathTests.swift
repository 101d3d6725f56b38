import CShims
import PageFrag
import Testing
import VethLab
@testable import XSK

#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Transmit, bidirectional traffic, invalid descriptors, the filter, shared UMEMs, map updates
/// under traffic, and teardown, after the kernel's AF_XDP selftests.
@Suite("AF_XDP data path on veth", .serialized, Root.required)
struct XSKDataPathTests {
    @Test("frames sent from one end's TX ring arrive at the other end's RX ring, both ways", arguments: [XDPAttachMode.native, .skb])
    func bidirectional(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let device = try XSKHarness(lab: lab, side: .device, mode: mode)
        let host = try XSKHarness(lab: lab, side: .generator, mode: mode)
        for (sender, receiver) in [(device, host), (host, device)] {
            let count = 500
            let completed = try sender.transmit(count: count, length: 128) { bytes, index in
                let frame = TestFrame.make(length: 128, sequence: UInt64(index))
                bytes.copyBytes(from: frame)
            }
            #expect(completed == count)
            var sequences: [UInt64] = []
            let deadline = ContinuousClock.now + .seconds(2)
            while sequences.count < count, ContinuousClock.now < deadline {
                receiver.receive { bytes, _ in sequences.append(TestFrame.sequence(in: bytes)) }
            }
            #expect(sequences == (0..<UInt64(count)).map { $0 })
        }
        try device.tearDown()
        try host.tearDown()
    }

    @Test("invalid TX descriptors are counted in tx_invalid_descs and skipped; valid ones still go", arguments: [XDPAttachMode.native, .skb])
    func invalidTransmitDescriptors(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let sender = try XSKHarness(lab: lab, side: .device, mode: mode)
        let receiver = try XSKHarness(lab: lab, side: .generator, mode: mode)
        let socket = try #require(sender.socket)
        let kept = try unwrap(sender.cache.alloc(size: 64))
        // Past the end of the UMEM, and longer than any chunk.
        let invalid = [
            xdp_desc(addr: UInt64(sender.pool.size) + 4096, len: 64, options: 0),
            xdp_desc(addr: kept.offset, len: 9000, options: 0),
        ]
        let batch = socket.tx.reserve(upTo: invalid.count)
        for (index, descriptor) in invalid.enumerated() { batch[index] = descriptor }
        socket.tx.submit(batch)
        try socket.wakeTransmit()
        // Then valid frames behind them.
        #expect(try sender.transmit(count: 10, length: 64) { bytes, index in
            bytes.copyBytes(from: TestFrame.make(length: 64, sequence: UInt64(index)))
        } == 10)
        #expect(try socket.statistics().txInvalidDescriptors == 2)
        // The kernel hands refused descriptors back through the completion ring.
        sender.reapCompletions()
        #expect(Set(sender.foreignCompletions).isSubset(of: Set(invalid.map(\.addr))))
        var received = 0
        let deadline = ContinuousClock.now + .seconds(1)
        while received < 10, ContinuousClock.now < deadline { received += receiver.receive { _, _ in } }
        #expect(received == 10)
        sender.cache.free(kept)
        try sender.tearDown()
        try receiver.tearDown()
    }

    @Test("aligned mode: a descriptor straddling two chunks is invalid")
    func straddlingInAlignedMode() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        var configuration = Umem.Configuration()
        configuration.unalignedChunks = false
        let sender = try XSKHarness(lab: lab, side: .device, umemConfiguration: configuration, fillCount: 0)
        let socket = try #require(sender.socket)
        let batch = socket.tx.reserve(upTo: 1)
        batch[0] = xdp_desc(addr: 2048 * 10 + 2000, len: 100, options: 0)
        socket.tx.submit(batch)
        try socket.wakeTransmit()
        #expect(try socket.statistics().txInvalidDescriptors == 1)
        try sender.tearDown()
    }

    @Test("the filter sends matching frames to the socket and the rest to the kernel", arguments: [XDPAttachMode.native, .skb])
    func filter(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab, mode: mode)
        try harness.programs.setFilter(TrafficFilter(ethertype: 0x0800, ipProtocol: 17, destinationPorts: 9000...9001))
        // UDP to 9000 and 9001 match; UDP to 53, and the raw test frames, do not.
        for (port, expectMatch) in [(9000, true), (9001, true), (53, false)] as [(UInt16, Bool)] {
            try harness.generate(count: 20, length: 0, frame: Self.udpFrame(port: port), sequenceOffset: 42)
            let received = harness.receive { _, _ in }
            #expect(received == (expectMatch ? 20 : 0), "port \(port)")
        }
        try harness.generate(count: 20, length: 64)
        #expect(harness.receive { _, _ in } == 0)
        let counters = try harness.programs.counters(queue: 0)
        #expect(counters.redirected == 40)
        #expect(counters.passed == 40)
        // Changed at run time, sockets untouched: now everything matches.
        try harness.programs.setFilter(.all)
        try harness.generate(count: 20, length: 64)
        #expect(harness.receive { _, _ in } == 20)
        try harness.tearDown()
    }

    /// Ethernet + IPv4 + UDP to `port`, 64 bytes; the generator writes its sequence number
    /// into the UDP payload (offset 42), not over the headers.
    static func udpFrame(port: UInt16) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 64)
        for index in 0..<6 { frame[index] = 0xFF }
        frame[6...11] = [0x02, 0, 0, 0, 0, 2]
        frame[12] = 0x08
        frame[13] = 0x00
        frame[14] = 0x45
        frame[16] = 0
        frame[17] = 50  // total length 50
        frame[22] = 64  // TTL
        frame[23] = 17  // UDP
        frame[26...29] = [198, 18, 0, 1]
        frame[30...33] = [198, 18, 0, 2]
        frame[34] = 0x30
        frame[35] = 0x39  // source port 12345
        frame[36] = UInt8(port >> 8)
        frame[37] = UInt8(port & 0xFF)
        frame[38] = 0
        frame[39] = 30  // UDP length
        return frame
    }

    @Test("two sockets on two queues share one UMEM; each queue's frames reach its own socket")
    func sharedUmemTwoQueues() throws {
        let lab = try VethLab(queues: 2)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let interface = lab.deviceInterface
        let link = try lab.run(in: .device) { try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native) }
        defer { link.detach() }
        let pool = try PagePool(configuration: .init(size: 8 << 20, backing: .smallPages, tracksFragments: true), logger: TestLog.logger)
        var cache = PageFragCache(pool: pool)
        var posted: [UInt64: Fragment] = [:]
        do {
            let (umem, sockets) = try lab.run(in: .device) {
                let umem = try Umem(pool: pool, logger: TestLog.logger)
                let sockets = try (0..<2).map { queue in
                    try XSKSocket(umem: umem, configuration: .init(interface: interface, queue: UInt32(queue)), logger: TestLog.logger)
                }
                return (umem, sockets)
            }
            #expect(umem.pool === pool)
            #expect(sockets.map(\.sharesQueueRings) == [false, false])
            for (queue, socket) in sockets.enumerated() {
                try programs.insertSocket(socket.descriptor, queue: UInt32(queue))
                let batch = socket.fill.reserve(upTo: 256)
                for index in 0..<batch.count {
                    let fragment = try unwrap(cache.alloc(size: 2048))
                    batch[index] = fragment.offset
                    posted[fragment.offset] = fragment
                }
                socket.fill.submit(batch)
            }
            // On veth the sending CPU picks the receiving queue.
            for queue in 0..<2 {
                try lab.run(in: .generator) {
                    try pinCurrentThread(to: queue)
                    try programs.generate(
                        frame: TestFrame.make(length: 64), count: 50,
                        on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset,
                        firstSequence: UInt64(queue) * 1000)
                }
                let socket = sockets[queue]
                let batch = socket.rx.peek(upTo: 256)
                #expect(batch.count == 50, "queue \(queue)")
                for index in 0..<batch.count {
                    let descriptor = batch[index]
                    let bytes = UnsafeRawBufferPointer(
                        start: pool.base + Int(xsk_umem__add_offset_to_addr(descriptor.addr)), count: Int(descriptor.len))
                    #expect(TestFrame.sequence(in: bytes) == UInt64(queue) * 1000 + UInt64(index))
                    cache.free(try unwrap(posted.removeValue(forKey: xsk_umem__extract_addr(descriptor.addr))))
                }
                socket.rx.release(batch)
            }
            for queue in 0..<2 { programs.removeSocket(queue: UInt32(queue)) }
        }
        for fragment in posted.values { cache.free(fragment) }
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("the XSK map is pointed at a second socket of the same queue while traffic flows")
    func mapUpdateUnderTraffic() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let first = try XSKHarness(lab: lab)
        let umem = try #require(first.umem)
        let interface = lab.deviceInterface
        let second = try lab.run(in: .device) {
            try XSKSocket(umem: umem, configuration: .init(interface: interface, queue: 0), logger: TestLog.logger)
        }
        #expect(second.sharesQueueRings)

        // The generator runs in the background, in bursts, while the slot changes hands.
        let stop = AtomicFlag()
        let generator = JoinableThread {
            let end = ContinuousClock.now + .seconds(5)
            while !stop.isSet, ContinuousClock.now < end {
                try? first.generate(count: 2000, length: 64)
            }
        }
        var firstCount = 0
        var secondCount = 0
        let deadline = ContinuousClock.now + .seconds(5)
        var switched = false
        while ContinuousClock.now < deadline {
            firstCount += first.receive { _, _ in }
            if !switched, firstCount >= 1000 {
                try first.programs.insertSocket(second.descriptor, queue: 0)
                switched = true
            }
            let batch = second.rx.peek(upTo: 64)
            for index in 0..<batch.count {
                let base = xsk_umem__extract_addr(batch[index].addr)
                first.cache.free(try unwrap(first.posted.removeValue(forKey: base)))
            }
            second.rx.release(batch)
            secondCount += batch.count
            first.refill(upTo: batch.count)
            if secondCount >= 1000 { break }
        }
        stop.set()
        generator.join()
        #expect(firstCount >= 1000)
        #expect(secondCount >= 1000)
        first.programs.removeSocket(queue: 0)
        try first.tearDown()
        withExtendedLifetime(second) {}
    }

    @Test("sockets and UMEM torn down and made again ten times, no leak, no EBUSY")
    func teardownAndRecreate() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let pool = try PagePool(configuration: .init(size: 8 << 20, backing: .smallPages, tracksFragments: true), logger: TestLog.logger)
        for round in 0..<10 {
            let harness = try XSKHarness(lab: lab, pool: pool)
            try harness.generate(count: 100, length: 64, firstSequence: UInt64(round) * 100)
            var sequences: [UInt64] = []
            harness.receive { bytes, _ in sequences.append(TestFrame.sequence(in: bytes)) }
            #expect(sequences.count == 100, "round \(round)")
            #expect(sequences.first == UInt64(round) * 100)
            try harness.tearDown()
        }
    }
}

final class AtomicFlag: @unchecked Sendable {
    private let value = LockedFlag()
    var isSet: Bool { value.get() }
    func set() { value.set() }
}

import SystemCalls

final class LockedFlag: Sendable {
    private let state = LockedValue(false)
    func get() -> Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
