import Testing
import XSK
import TestSupport

/// The frame limit follows the MTU without ever letting a frame overrun a buffer posted
/// earlier, and never grows past what the fill source can give. Pure logic: no root.
@Suite("FrameLimit: the MTU, followed safely")
struct FrameLimitTests {
    static func cache(mtu: Int = 1500, chunk: Int = 2048) -> FrameLimit {
        FrameLimit(mtu: mtu, headroom: 0, alignment: 64, maximumFragmentSize: FillStrategy.fragmentCache.maximumFragmentSize(chunkSize: chunk), resizable: true)
    }

    @Test("lowering the MTU lowers the limit at once")
    func lower() {
        var limit = Self.cache()
        #expect(limit.fragmentSize == 1792 && limit.frameLimit == 1536)
        // 256 + 1000 + 18 rounds up to 1280 bytes, 1024 of them for the frame.
        #expect(limit.follow(mtu: 1000, fillPosted: 4096) == .limitNow(1024))
        #expect(limit.frameLimit == 1024 && limit.fragmentSize == 1280)
        #expect(!limit.raiseIsDue(received: 0))
    }

    @Test("raising it waits until every smaller buffer already posted has been used")
    func raise() {
        var limit = Self.cache(chunk: 4096)
        // 256 + 3000 + 18 rounds up to 3328 bytes, 3072 of them for the frame.
        #expect(limit.follow(mtu: 3000, fillPosted: 4096) == .raiseLater(3072))
        #expect(limit.fragmentSize == 3328)
        #expect(limit.frameLimit == 1536, "not before the old buffers are used")
        #expect(!limit.raiseIsDue(received: 4095))
        #expect(limit.raiseIsDue(received: 4096))
        #expect(limit.applyRaise() == 3072)
        #expect(limit.frameLimit == 3072)
        #expect(limit.follow(mtu: 3000, fillPosted: 9000) == nil, "no change, nothing to do")
    }

    @Test("never past the chunk: a 9000 MTU on 2048-byte chunks stops at 1792")
    func chunkBound() {
        var limit = Self.cache()
        _ = limit.follow(mtu: 9000, fillPosted: 10)
        #expect(limit.fragmentSize == 2048)
        #expect(limit.applyRaise() == 1792)
    }

    @Test("descriptor slots on a 4096-byte chunk keep half a page: the limit never passes 1792")
    func slotsAreFixed() {
        let maximum = FillStrategy.descriptorSlots.maximumFragmentSize(chunkSize: 4096)
        #expect(maximum == 2048)
        var limit = FrameLimit(mtu: 1500, headroom: 0, alignment: 64, maximumFragmentSize: maximum, resizable: false)
        #expect(limit.fragmentSize == 2048 && limit.frameLimit == 1792)
        #expect(limit.follow(mtu: 3000, fillPosted: 4096) == .fixed)
        #expect(limit.frameLimit == 1792 && limit.fragmentSize == 2048)
        #expect(limit.applyRaise() == nil)
    }
}
