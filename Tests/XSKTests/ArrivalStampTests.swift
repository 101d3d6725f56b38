import CShims
import Testing
import XSK

/// The arrival stamp in front of a frame, on a buffer of our own: `peek` reads and leaves it,
/// `take` reads and consumes it, and neither reads a buffer without the magic.
@Suite("Arrival stamp")
struct ArrivalStampTests {
    @Test("peek leaves the stamp for take; take consumes it; no magic, no stamp")
    func peekAndTake() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: 64)
        let frame = buffer + 32
        #expect(ArrivalStamp.peek(before: frame) == nil && ArrivalStamp.take(before: frame) == nil)
        let stamp = frame - ArrivalStamp.size
        stamp.storeBytes(of: UInt64(123_456_789).littleEndian, as: UInt64.self)
        stamp.storeBytes(of: UInt32(XSKD_ARRIVAL_MAGIC).littleEndian, toByteOffset: 8, as: UInt32.self)
        #expect(ArrivalStamp.peek(before: frame) == 123_456_789)
        #expect(ArrivalStamp.peek(before: frame) == 123_456_789)
        #expect(ArrivalStamp.take(before: frame) == 123_456_789)
        #expect(ArrivalStamp.take(before: frame) == nil && ArrivalStamp.peek(before: frame) == nil)
    }
}
