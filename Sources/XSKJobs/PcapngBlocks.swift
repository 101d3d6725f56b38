// The pcapng blocks a capture writes (draft-ietf-opsawg-pcapng): a section header, one
// interface description per interface and queue, and one enhanced packet block per frame. The
// header blocks are built once per file, off the data path; the packet block is written in
// place into the capture's staging memory by the poll thread, so its encoder takes a raw
// pointer and does nothing but stores and one copy.
//
// Blocks are in the machine's byte order, which the section header's byte-order magic tells
// readers. Every block's length is a multiple of 4, so a block that starts 4-aligned leaves
// the next one 4-aligned too: the writer reads a block's length without an unaligned load.

/// Encoders for the pcapng blocks of a capture.
public enum PcapngBlocks {
    /// Block types.
    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let interfaceDescriptionType: UInt32 = 0x0000_0001
    /// The enhanced packet block's type.
    public static let enhancedPacketType: UInt32 = 0x0000_0006
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
    /// LINKTYPE_ETHERNET.
    static let linkTypeEthernet: UInt16 = 1

    // Option codes.
    static let endOfOptions: UInt16 = 0
    static let shbUserApplication: UInt16 = 4
    static let ifName: UInt16 = 2
    static let ifDescription: UInt16 = 3
    static let ifTimestampResolution: UInt16 = 9
    @usableFromInline static let epbFlags: UInt16 = 2

    /// Which way a frame went, as the enhanced packet block's flags say (bits 0-1).
    public enum Direction: UInt32, Sendable {
        /// Received by xskd.
        case inbound = 1
        /// Transmitted by xskd.
        case outbound = 2
    }

    /// An interface as a capture describes it.
    public struct Interface: Sendable, Equatable {
        /// The interface's name (if_name).
        public var name: String
        /// What the capture saw on it (if_description): xskd and the queue.
        public var description: String
        /// A description from its parts.
        public init(name: String, description: String) {
            self.name = name
            self.description = description
        }
    }

    /// The fixed part of an enhanced packet block around its data: 28 bytes of header, the
    /// flags option (8) and the end of options (4), the trailing length (4).
    public static let enhancedPacketOverhead = 44

    /// The length of the enhanced packet block that holds `captured` bytes of a frame.
    @inlinable
    public static func enhancedPacketLength(captured: Int) -> Int {
        enhancedPacketOverhead &+ ((captured &+ 3) & ~3)
    }

    /// The section header (naming xskd as the writer) and one interface description per
    /// interface, in order: interface id `n` is `interfaces[n]`. Timestamps are nanoseconds.
    public static func fileHeader(interfaces: [Interface], snapLength: Int, application: String) -> [UInt8] {
        var bytes = block(type: sectionHeaderType) { body in
            body.append(byteOrderMagic)
            body.append(UInt16(1))  // major version
            body.append(UInt16(0))  // minor version
            body.append(UInt64.max)  // section length: not given
            body.option(shbUserApplication, Array(application.utf8))
            body.append(endOfOptions)
            body.append(UInt16(0))
        }
        for interface in interfaces {
            bytes += block(type: interfaceDescriptionType) { body in
                body.append(linkTypeEthernet)
                body.append(UInt16(0))  // reserved
                body.append(UInt32(truncatingIfNeeded: snapLength))
                body.option(ifName, Array(interface.name.utf8))
                body.option(ifDescription, Array(interface.description.utf8))
                body.option(ifTimestampResolution, [9])  // 10^-9 s
                body.append(endOfOptions)
                body.append(UInt16(0))
            }
        }
        return bytes
    }

    /// Writes the enhanced packet block of one frame at `destination` (4-aligned, with
    /// `enhancedPacketLength(captured:)` bytes of room): `captured` bytes from `frame`, of a
    /// frame `original` bytes long, at `timestamp` nanoseconds since the epoch. Returns the
    /// block's length.
    @inlinable
    public static func writeEnhancedPacket(
        at destination: UnsafeMutableRawPointer, interface: UInt32, timestamp: UInt64, frame: UnsafeRawPointer,
        captured: Int, original: Int, direction: Direction
    ) -> Int {
        writeEnhancedPacket(
            at: destination, interface: interface, timestamp: timestamp, captured: captured, original: original,
            direction: direction
        ) { $0.copyMemory(from: frame, byteCount: captured) }
    }

    /// The same block, its `captured` packet bytes written at the pointer `copy` is given
    /// (for a frame in several buffers, gathered from each).
    @inlinable
    public static func writeEnhancedPacket(
        at destination: UnsafeMutableRawPointer, interface: UInt32, timestamp: UInt64, captured: Int, original: Int,
        direction: Direction, copy: (UnsafeMutableRawPointer) -> Void
    ) -> Int {
        let length = enhancedPacketLength(captured: captured)
        let total = UInt32(truncatingIfNeeded: length)
        destination.storeBytes(of: enhancedPacketType, as: UInt32.self)
        destination.storeBytes(of: total, toByteOffset: 4, as: UInt32.self)
        destination.storeBytes(of: interface, toByteOffset: 8, as: UInt32.self)
        destination.storeBytes(of: UInt32(truncatingIfNeeded: timestamp >> 32), toByteOffset: 12, as: UInt32.self)
        destination.storeBytes(of: UInt32(truncatingIfNeeded: timestamp), toByteOffset: 16, as: UInt32.self)
        destination.storeBytes(of: UInt32(truncatingIfNeeded: captured), toByteOffset: 20, as: UInt32.self)
        destination.storeBytes(of: UInt32(truncatingIfNeeded: original), toByteOffset: 24, as: UInt32.self)
        copy(destination + 28)
        var at = 28 &+ captured
        // Padding to 4 bytes, zeroed: readers do not look, but a capture must not carry
        // stale bytes of earlier frames.
        while at & 3 != 0 {
            destination.storeBytes(of: UInt8(0), toByteOffset: at, as: UInt8.self)
            at &+= 1
        }
        // epb_flags: code 2, length 4, the direction in bits 0-1.
        destination.storeBytes(of: UInt32(epbFlags) | (4 << 16), toByteOffset: at, as: UInt32.self)
        destination.storeBytes(of: direction.rawValue, toByteOffset: at &+ 4, as: UInt32.self)
        destination.storeBytes(of: UInt32(0), toByteOffset: at &+ 8, as: UInt32.self)  // end of options
        destination.storeBytes(of: total, toByteOffset: at &+ 12, as: UInt32.self)
        return length
    }

    /// A block: type, length, `body`, length again.
    static func block(type: UInt32, _ body: (inout BlockBody) -> Void) -> [UInt8] {
        var content = BlockBody()
        body(&content)
        precondition(content.bytes.count % 4 == 0, "a pcapng block body of \(content.bytes.count) bytes")
        let total = UInt32(content.bytes.count + 12)
        var bytes = BlockBody()
        bytes.append(type)
        bytes.append(total)
        bytes.bytes += content.bytes
        bytes.append(total)
        return bytes.bytes
    }

    /// The body of a block under construction, in the machine's byte order.
    struct BlockBody {
        var bytes: [UInt8] = []

        mutating func append<Value: FixedWidthInteger>(_ value: Value) {
            withUnsafeBytes(of: value) { bytes += $0 }
        }

        /// An option: code, length, value padded to 4 bytes.
        mutating func option(_ code: UInt16, _ value: [UInt8]) {
            append(code)
            append(UInt16(value.count))
            bytes += value
            bytes += [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
        }
    }
}
