import CShims
import PageFrag
import Testing
import VethLab
@testable import XSK
import TestSupport

/// The data path on veth, after the kernel's own AF_XDP selftests (xskxceiver): frames from
/// the generator arrive in order with their content, in skb and native mode.
@Suite("AF_XDP sockets on veth", .serialized, Root.required)
struct XSKSocketTests {
    @Test("64-byte and MTU-size frames arrive in order with their content", arguments: [
        (XDPAttachMode.native, 64), (.native, 1514), (.skb, 64), (.skb, 1514),
    ])
    func receiveInOrder(mode: XDPAttachMode, length: Int) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab, mode: mode)
        #expect(harness.socket?.boundMode == .copy)  // veth has no zero-copy

        let count = 1000
        try harness.generate(count: count, length: length)
        var expected: UInt64 = 0
        var damaged = 0
        let template = TestFrame.make(length: length)
        let received = harness.receive { bytes, descriptor in
            #expect(Int(descriptor.len) == length)
            #expect(TestFrame.sequence(in: bytes) == expected, "frame \(expected) out of order")
            expected = TestFrame.sequence(in: bytes) + 1
            if !bytes[22...].elementsEqual(template[22...]) { damaged += 1 }
        }
        #expect(received == count)
        #expect(damaged == 0)
        let statistics = try harness.socket!.statistics()
        #expect(statistics.rxDropped == 0 && statistics.rxRingFull == 0)
        let counters = try harness.programs.counters(queue: 0)
        #expect(counters.redirected == UInt64(count))
        try harness.tearDown()
    }

    @Test("a single frame arrives", arguments: [XDPAttachMode.native, .skb])
    func singleFrame(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab, mode: mode)
        try harness.generate(count: 1, length: 60, firstSequence: 42)
        var sequences: [UInt64] = []
        harness.receive { bytes, _ in sequences.append(TestFrame.sequence(in: bytes)) }
        #expect(sequences == [42])
        try harness.tearDown()
    }

    @Test("poll on RX times out cleanly with no traffic, and wakes with traffic", arguments: [XDPAttachMode.native, .skb])
    func pollTimeout(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab, mode: mode)
        let socket = try #require(harness.socket)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try socket.poll(timeoutMilliseconds: 100) == false)
        #expect(clock.now - start >= .milliseconds(90))
        try harness.generate(count: 10, length: 64)
        #expect(try socket.poll(timeoutMilliseconds: 1000) == true)
        #expect(harness.receive { _, _ in } == 10)
        // TX poll: an empty TX ring is writable at once.
        #expect(try socket.poll(forTransmit: true, timeoutMilliseconds: 100) == true)
        try harness.tearDown()
    }

    @Test("frame headroom is honoured: data starts headroom + 256 bytes into the chunk", arguments: [XDPAttachMode.native, .skb])
    func headroom(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        var configuration = Umem.Configuration()
        configuration.headroom = 128
        let harness = try XSKHarness(lab: lab, mode: mode, umemConfiguration: configuration)
        try harness.generate(count: 5, length: 64)
        var offsets: [UInt64] = []
        harness.receive { _, descriptor in offsets.append(xsk_umem__extract_offset(descriptor.addr)) }
        #expect(offsets == Array(repeating: 128 + 256, count: 5))
        try harness.tearDown()
    }

    @Test("rx_fill_ring_empty_descs counts frames that found the fill ring empty", arguments: [XDPAttachMode.native, .skb])
    func fillRingEmpty(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab, mode: mode, fillCount: 0)
        try harness.generate(count: 100, length: 64)
        let statistics = try harness.socket!.statistics()
        #expect(statistics.rxFillRingEmpty > 0)
        #expect(harness.receive { _, _ in } == 0)
        try harness.tearDown()
    }

    @Test("rx_ring_full counts frames dropped while the application does not release", arguments: [XDPAttachMode.native, .skb])
    func rxRingFull(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        // An RX ring of 64 and a fill ring with room for 512: the RX ring fills first.
        let harness = try XSKHarness(lab: lab, mode: mode, rxSize: 64, fillCount: 512)
        try harness.generate(count: 300, length: 64)
        let statistics = try harness.socket!.statistics()
        #expect(statistics.rxRingFull > 0)
        #expect(harness.receive { _, _ in } == 64)
        try harness.tearDown()
    }

    @Test("rx_dropped counts frames too long for the chunk", arguments: [XDPAttachMode.native, .skb])
    func rxDroppedTooLong(mode: XDPAttachMode) throws {
        let lab = try VethLab(mtu: 3000)
        defer { lab.destroy() }
        // 2048-byte chunks take frames up to 2048 - 256 = 1792 bytes.
        let harness = try XSKHarness(lab: lab, mode: mode)
        try harness.generate(count: 10, length: 2500)
        let statistics = try harness.socket!.statistics()
        #expect(statistics.rxDropped == 10)
        #expect(harness.receive { _, _ in } == 0)
        try harness.tearDown()
    }
}
