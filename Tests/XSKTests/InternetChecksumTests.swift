import Testing
import XSKJobs

/// The Internet checksum against a header whose checksum is known, odd lengths, the fold, and
/// UDP's rule for a zero result.
@Suite("Internet checksum")
struct InternetChecksumTests {
    /// An IPv4 header (192.168.0.1 -> 192.168.0.199, UDP, 115 bytes) with its checksum 0xB861.
    static let header: [UInt8] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xB8, 0x61, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7,
    ]

    @Test("the known header: its checksum computed with the field zeroed, and a sum of all-ones with it in")
    func knownHeader() {
        var zeroed = Self.header
        zeroed[10] = 0
        zeroed[11] = 0
        #expect(zeroed.withUnsafeBytes { InternetChecksum.finish(InternetChecksum.sum($0)) } == 0xB861)
        #expect(Self.header.withUnsafeBytes { InternetChecksum.sum($0) } == 0xFFFF)
    }

    @Test("sums add: two halves summed apart equal the whole; an odd last byte is padded")
    func partialSums() {
        let bytes: [UInt8] = (0..<101).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = bytes.withUnsafeBytes { InternetChecksum.sum($0) }
        let first = bytes[0..<40].withUnsafeBytes { InternetChecksum.sum($0) }
        let second = bytes[40...].withUnsafeBytes { InternetChecksum.sum($0) }
        #expect(InternetChecksum.fold(first &+ second) == whole)
        #expect([UInt8(0xAB)].withUnsafeBytes { InternetChecksum.sum($0) } == 0xAB00)
    }

    @Test("UDP sends a zero checksum as 0xFFFF")
    func udpZero() {
        #expect(InternetChecksum.finish(0xFFFF) == 0)
        #expect(InternetChecksum.finishUDP(0xFFFF) == 0xFFFF)
        #expect(InternetChecksum.finishUDP(0x1234) == ~UInt16(0x1234))
    }
}
