/// The tests' one frame template: raw Ethernet with the IEEE local experimental ethertype
/// 0x88B5, so that no stack on the way acts on it, carrying a 64-bit sequence number right
/// after the header.
public enum TestFrame {
    public static let ethertype: UInt16 = 0x88B5
    public static let sequenceOffset = 14

    public static func make(length: Int, sequence: UInt64 = 0) -> [UInt8] {
        precondition(length >= 22)
        var frame = [UInt8](repeating: 0, count: length)
        // Destination: broadcast; source: a locally administered address.
        for index in 0..<6 { frame[index] = 0xFF }
        frame[6...11] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
        frame[12] = UInt8(ethertype >> 8)
        frame[13] = UInt8(ethertype & 0xFF)
        withUnsafeBytes(of: sequence.littleEndian) { frame.replaceSubrange(14..<22, with: $0) }
        for index in 22..<length { frame[index] = UInt8(truncatingIfNeeded: index) }
        return frame
    }

    /// The frame's sequence number; `UInt64.max` for a frame too short to carry one (so that a
    /// stray frame fails the test's expectation instead of crashing the test process).
    public static func sequence(in bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard bytes.count >= sequenceOffset + 8 else { return .max }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: sequenceOffset, as: UInt64.self))
    }
}
