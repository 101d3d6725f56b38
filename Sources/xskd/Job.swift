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
    /// Transmit frames built in TX fragments: sequence-numbered, at a rate or as fast as
    /// possible, up to a count.
    case generate
    /// Two-port L2 forwarder: every frame received on one interface leaves by the other, in
    /// both directions, without a copy (both interfaces' sockets share one UMEM).
    case forward
}

/// What the generate job sends.
struct GenerateOptions: Sendable {
    /// Frame length in bytes (60...1514 on a standard MTU).
    var size = 64
    /// Frames per second per queue; 0 sends as fast as the ring takes them.
    var rate: Double = 0
    /// Frames per queue; nil sends until stopped.
    var count: Int?
    /// Destination MAC address.
    var destination: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    /// Raw Ethernet with the IEEE local experimental ethertype, a locally administered source
    /// address, the 64-bit little-endian sequence number right after the header.
    func template() -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: size)
        frame.replaceSubrange(0..<6, with: destination)
        frame.replaceSubrange(6..<12, with: [0x02, 0x78, 0x73, 0x6B, 0x64, 0x02])
        frame[12] = 0x88
        frame[13] = 0xB5
        for index in 22..<size { frame[index] = UInt8(truncatingIfNeeded: index) }
        return frame
    }
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
