// The time a frame reached the XDP program, as the program writes it in front of the frame
// when its queue's arrival stamps are on (`XDPPrograms.setArrivalStamps`): the start of a
// residency, the time a frame spends in xskd's hands and rings until its transmit completes.
// Read on a sampled frame only, never per frame; the magic is cleared once read, so that a
// buffer used again without a fresh stamp is never read twice.

import CShims

/// The arrival time the redirect program stamped into a frame's metadata.
public enum ArrivalStamp {
    /// The stamp's size in front of the frame's first byte.
    public static let size = MemoryLayout<xskd_arrival>.size

    /// The arrival time (CLOCK_MONOTONIC nanoseconds) in front of the frame starting at
    /// `data`, or nil when the frame carries none; the stamp is consumed.
    @inlinable
    public static func take(before data: UnsafeMutableRawPointer) -> UInt64? {
        guard let arrival = peek(before: data) else { return nil }
        (data - size).storeBytes(of: 0, toByteOffset: 8, as: UInt32.self)
        return arrival
    }

    /// The arrival time in front of the frame starting at `data`, or nil; the stamp is left for
    /// `take` (the latency cap's check reads the frame a residency sample may take next).
    @inlinable
    public static func peek(before data: UnsafeMutableRawPointer) -> UInt64? {
        let stamp = data - size
        guard stamp.loadUnaligned(fromByteOffset: 8, as: UInt32.self) == UInt32(XSKD_ARRIVAL_MAGIC).littleEndian else { return nil }
        return UInt64(littleEndian: stamp.loadUnaligned(as: UInt64.self))
    }
}
