import PageFrag
import Testing
import XSK

/// Chains of buffers as the queue links them (in each buffer's first bytes) and walks them, and
/// the frame limit of a multi-buffer queue. Pure logic: no root.
@Suite("FrameChain: buffers linked through their headroom")
struct FrameChainTests {
    @Test("a linked chain walks back in order, each buffer with its own length, the last one's from the whole")
    func walk() {
        let region = UnsafeMutableRawPointer.allocate(byteCount: 4 * 2048, alignment: 4096)
        defer { region.deallocate() }
        // Three buffers out of order in the region, data 256 bytes in, as the kernel fills them.
        let offsets: [UInt64] = [4096, 0, 6144]
        let lengths: [UInt32] = [1792, 1792, 900]
        let buffers = zip(offsets, lengths).map { offset, length in
            ReceivedFrame(fragment: Fragment(offset: offset, length: 2048), address: offset | (256 << 48), length: length)
        }
        for index in 0..<2 { FrameChain.link(buffers[index], to: buffers[index + 1], base: region) }
        var head = buffers[0]
        head.segments = 3
        head.length = lengths.reduce(0, +)
        #expect(head.isChain)
        #expect(FrameChain.headLength(of: head, base: region) == 1792)
        var walked: [ReceivedFrame] = []
        FrameChain.forEachBuffer(of: head, base: region) { walked.append($0) }
        #expect(walked.map(\.fragment.offset) == offsets)
        #expect(walked.map(\.length) == lengths)
        #expect(walked.map(\.address) == buffers.map(\.address))
        #expect(walked.allSatisfy { $0.segments == 1 })
        // The link sits in front of the data: the frame's own bytes are untouched.
        #expect(MemoryLayout<ChainLink>.size <= Int(buffers[0].dataOffset - buffers[0].fragment.offset) - 32)
    }

    @Test("a frame of one buffer walks as itself")
    func single() {
        let region = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 4096)
        defer { region.deallocate() }
        let frame = ReceivedFrame(fragment: Fragment(offset: 0, length: 2048), address: 256 << 48, length: 60)
        var walked: [ReceivedFrame] = []
        FrameChain.forEachBuffer(of: frame, base: region) { walked.append($0) }
        #expect(walked.count == 1 && walked[0].length == 60 && !frame.isChain)
        #expect(FrameChain.headLength(of: frame, base: region) == 60)
    }

    static func limit(mtu: Int, chains: Bool) -> FrameLimit {
        FrameLimit(
            mtu: mtu, headroom: 0, alignment: 64, maximumFragmentSize: 2048, resizable: true,
            chainChunkSize: chains ? 2048 : nil)
    }

    @Test("multi-buffer: whole-chunk fill buffers take chains up to the receive limit; smaller ones keep one buffer's limit")
    func limits() {
        let jumbo = Self.limit(mtu: 9000, chains: true)
        #expect(jumbo.fragmentSize == 2048 && jumbo.takesChains)
        #expect(jumbo.frameLimit == 1792 * FrameChain.receiveLimit)
        #expect(jumbo.frameLimit >= 9018)
        let single = Self.limit(mtu: 9000, chains: false)
        #expect(single.frameLimit == 1792 && !single.takesChains)
        // At MTU 1500 the kernel would still copy up to 1792 bytes into a 1792-byte buffer's
        // 1536 bytes of room: no chains, one buffer's limit.
        let small = Self.limit(mtu: 1500, chains: true)
        #expect(small.fragmentSize == 1792 && !small.takesChains && small.frameLimit == 1536)
    }

    @Test("multi-buffer: raising the MTU to 9000 turns chains on once the smaller buffers are used; lowering turns them off at once")
    func follows() {
        var limit = Self.limit(mtu: 1500, chains: true)
        #expect(limit.follow(mtu: 9000, fillPosted: 4096) == .raiseLater(1792 * FrameChain.receiveLimit))
        #expect(limit.frameLimit == 1536)
        #expect(limit.raiseIsDue(received: 4096))
        #expect(limit.applyRaise() == 1792 * FrameChain.receiveLimit)
        #expect(limit.takesChains)
        #expect(limit.follow(mtu: 1500, fillPosted: 8192) == .limitNow(1536))
        #expect(!limit.takesChains)
    }
}
