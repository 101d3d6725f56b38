// The reflect job: every frame goes back out of the queue it came in on, with its Ethernet
// source and destination swapped, in place (no copy): a network tester's reflector. With
// --follow-sequences it also follows the sequences of stamped frames per flow, as drop does:
// what was lost on the way to the reflector, apart from what the sender finds missing on the
// way back.

import XSKJobs

/// Sends every frame back with its MAC addresses swapped.
struct ReflectJob: PacketJob {
    let followSequences: Bool
    var measured = JobMeasurements()

    init(followSequences: Bool = false) { self.followSequences = followSequences }

    @inlinable
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        while var frame = frames.next() {
            if followSequences, let stamp = frame.withBytes({ ProbeStamp.read($0) }) { measured.sequences.record(stamp) }
            if frame.length >= 12 {
                frame.withUnsafeMutableBytes { bytes in swapMACAddresses(bytes.baseAddress!) }
            }
            context.transmit(frame)
        }
    }

    var measurements: JobMeasurements { measured }
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
