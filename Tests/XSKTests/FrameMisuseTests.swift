import PageFrag
import Testing
import XSK
@testable import XSKJobs
import TestSupport

/// What Swift's ownership cannot forbid at compile time traps in debug builds. (Using a frame
/// after giving it up, or giving it up twice, does not compile: every verb consumes it.)
@Suite("Frame misuse traps")
struct FrameMisuseTests {
    @Test("a frame dropped without being given back traps")
    func droppedFrame() async {
        await #expect(processExitsWith: .failure) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
            let descriptor = ReceivedFrame(fragment: Fragment(offset: 0, length: 2048), address: 0, length: 64)
            _ = Frame(descriptor: descriptor, base: memory, port: 0, wasReceived: true)
        }
    }

    @Test("a length past the buffer traps")
    func lengthPastBuffer() async {
        await #expect(processExitsWith: .failure) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
            let descriptor = ReceivedFrame(fragment: Fragment(offset: 0, length: 2048), address: 0, length: 64)
            var frame = Frame(descriptor: descriptor, base: memory, port: 0, wasReceived: true)
            frame.length = 2049
            _ = frame.take()
        }
    }

    @Test("a frame's span ends at its length")
    func spanBounds() async {
        await #expect(processExitsWith: .failure) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
            let descriptor = ReceivedFrame(fragment: Fragment(offset: 0, length: 2048), address: 0, length: 64)
            let frame = Frame(descriptor: descriptor, base: memory, port: 0, wasReceived: true)
            _ = frame.withBytes { $0.unsafeLoad(fromByteOffset: 64, as: UInt8.self) }
            _ = frame.take()
        }
    }

    @Test("a frame's capacity runs to the end of its buffer, from the data's offset")
    func capacity() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { memory.deallocate() }
        // Unaligned mode: the data's offset inside the buffer is in the top 16 bits.
        let descriptor = ReceivedFrame(fragment: Fragment(offset: 1024, length: 1792), address: 1024 | (256 << 48), length: 60)
        var frame = Frame(descriptor: descriptor, base: memory, port: 0, wasReceived: true)
        #expect(frame.bufferCapacity == 1792 - 256)
        frame.length = 1536
        #expect(frame.length == 1536)
        let taken = frame.take()
        #expect(taken.descriptor.length == 1536)
    }
}
