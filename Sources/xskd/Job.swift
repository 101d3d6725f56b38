// What a queue's poll thread does with the frames it receives.

import CShims
import PageFrag
import XSK

public enum Job: String, Sendable, CaseIterable {
    /// Count the frames and give the buffers back: a sink, and the RX benchmark.
    case drop
    /// Swap Ethernet source and destination and send each frame back out of the queue it came
    /// from, in place (no copy): a network tester's reflector.
    case reflect
}

/// Swaps the destination and source MAC addresses of the frame at `frame` (at least 12 bytes).
@inlinable
func swapMACAddresses(_ frame: UnsafeMutableRawPointer) {
    let destination = frame.loadUnaligned(as: UInt32.self)
    let destinationTail = frame.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
    let source = frame.loadUnaligned(fromByteOffset: 6, as: UInt32.self)
    let sourceTail = frame.loadUnaligned(fromByteOffset: 10, as: UInt16.self)
    frame.storeBytes(of: source, as: UInt32.self)
    frame.storeBytes(of: sourceTail, toByteOffset: 4, as: UInt16.self)
    frame.storeBytes(of: destination, toByteOffset: 6, as: UInt32.self)
    frame.storeBytes(of: destinationTail, toByteOffset: 10, as: UInt16.self)
}
