// What xskd's generator writes into every frame it sends, so that a receiver can count loss,
// reordering and duplicates per flow and a reflected frame can be timed: after the Ethernet
// header (ethertype 0x88B5, the IEEE local experimental one), the sequence number, a magic
// word that tells a stamped frame from any other, the flow id and the send time, all
// little-endian:
//
//   offset 14: sequence (8 bytes)   22: magic "XSKP" (4)   26: flow (4)   30: send time, ns (8)
//
// The sequence stays where it has always been (offset 14), so older readers still find it.
// In a UDP/IPv4 datagram (IHL 5, not fragmented) the same 24 bytes open the UDP payload,
// offset 42, so that a datagram an ordinary socket receives is stamped too.

// CShims as well as Glibc: the C target includes <time.h> too, and an @inlinable body may
// only name timespec through a module this file imports itself.
import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A stamped frame's fields, and where they live in the frame.
public struct ProbeStamp: Sendable, Equatable {
    /// The sender's flow: one per queue and run (a new run, a new flow).
    public var flow: UInt32
    /// The frame's number in its flow, from 0.
    public var sequence: UInt64
    /// When it was sent, in nanoseconds of the sender's monotonic clock.
    public var sentNanoseconds: UInt64

    /// A stamp from its fields.
    public init(flow: UInt32, sequence: UInt64, sentNanoseconds: UInt64) {
        self.flow = flow
        self.sequence = sequence
        self.sentNanoseconds = sentNanoseconds
    }

    /// The ethertype of stamped frames (IEEE 802 local experimental ethertype 1).
    public static let ethertype: UInt16 = 0x88B5
    /// "XSKP", read little-endian.
    public static let magic: UInt32 = 0x504B_5358
    /// Where the sequence number is, in bytes from the frame's start.
    public static let sequenceOffset = 14
    /// Where the magic word is.
    public static let magicOffset = 22
    /// Where the flow id is.
    public static let flowOffset = 26
    /// Where the send time is.
    public static let timeOffset = 30
    /// The shortest frame that carries a stamp.
    public static let minimumLength = 38
    /// The stamp's size.
    public static let size = 24
    /// Where a UDP/IPv4 datagram's stamp starts: its payload, after 14 + 20 + 8 header bytes.
    public static let udpPayloadOffset = 42
    /// The shortest UDP/IPv4 frame that carries a stamp.
    public static let minimumUDPLength = udpPayloadOffset + size

    /// The stamp in `bytes`, nil when they are not a stamped frame (too short, another
    /// ethertype or a UDP/IPv4 datagram without one, no magic).
    @inlinable
    public static func read(_ bytes: RawSpan) -> ProbeStamp? {
        guard bytes.byteCount >= minimumLength else { return nil }
        let type = bytes.unsafeLoadUnaligned(fromByteOffset: 12, as: UInt16.self)
        let shift: Int
        if type == ethertype.bigEndian {
            shift = 0
        } else if type == UInt16(0x0800).bigEndian, bytes.byteCount >= minimumUDPLength,
            bytes.unsafeLoadUnaligned(fromByteOffset: 14, as: UInt8.self) == 0x45,
            bytes.unsafeLoadUnaligned(fromByteOffset: 23, as: UInt8.self) == 17,
            // Not a fragment: the first fragment's payload carries it, the others' cannot.
            UInt16(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 20, as: UInt16.self)) & 0x3FFF == 0
        {
            shift = udpPayloadOffset - sequenceOffset
        } else {
            return nil
        }
        guard UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: magicOffset + shift, as: UInt32.self)) == magic
        else { return nil }
        return ProbeStamp(
            flow: UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: flowOffset + shift, as: UInt32.self)),
            sequence: UInt64(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: sequenceOffset + shift, as: UInt64.self)),
            sentNanoseconds: UInt64(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: timeOffset + shift, as: UInt64.self)))
    }

    /// The monotonic clock (CLOCK_MONOTONIC, as ContinuousClock) in nanoseconds: the send time
    /// a stamp carries. A vDSO call, no system call.
    @inlinable
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Writes the stamp (and the ethertype) into a frame of at least `minimumLength` bytes.
    @inlinable
    public func write(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.minimumLength, "a stamped frame is at least \(Self.minimumLength) bytes, not \(bytes.count)")
        bytes.storeBytes(of: Self.ethertype.bigEndian, toByteOffset: 12, as: UInt16.self)
        bytes.storeBytes(of: sequence.littleEndian, toByteOffset: Self.sequenceOffset, as: UInt64.self)
        bytes.storeBytes(of: Self.magic.littleEndian, toByteOffset: Self.magicOffset, as: UInt32.self)
        bytes.storeBytes(of: flow.littleEndian, toByteOffset: Self.flowOffset, as: UInt32.self)
        bytes.storeBytes(of: sentNanoseconds.littleEndian, toByteOffset: Self.timeOffset, as: UInt64.self)
    }

    /// Writes the stamp at the start of a UDP/IPv4 datagram's payload (the headers are the
    /// caller's, the UDP checksum too: see `InternetChecksum`).
    @inlinable
    public func writeUDPPayload(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.minimumUDPLength, "a stamped UDP frame is at least \(Self.minimumUDPLength) bytes, not \(bytes.count)")
        let shift = Self.udpPayloadOffset - Self.sequenceOffset
        bytes.storeBytes(of: sequence.littleEndian, toByteOffset: Self.sequenceOffset + shift, as: UInt64.self)
        bytes.storeBytes(of: Self.magic.littleEndian, toByteOffset: Self.magicOffset + shift, as: UInt32.self)
        bytes.storeBytes(of: flow.littleEndian, toByteOffset: Self.flowOffset + shift, as: UInt32.self)
        bytes.storeBytes(of: sentNanoseconds.littleEndian, toByteOffset: Self.timeOffset + shift, as: UInt64.self)
    }
}
