import Testing
@testable import XSKDaemon
import XSKJobs

/// The generator's UDP/IPv4 frames, built as the job builds them: headers where a receiver
/// expects them, both checksums valid over the stamped frame, the stamp read back.
@Suite("generate's UDP frames")
struct GenerateFrameTests {
    /// The ones' complement sum of `bytes` as big-endian words, written out apart from the
    /// code under test.
    static func fold(_ bytes: ArraySlice<UInt8>) -> Int {
        var words = Array(bytes)
        if words.count % 2 == 1 { words.append(0) }
        var total = stride(from: 0, to: words.count, by: 2).reduce(0) { $0 + (Int(words[$1]) << 8 | Int(words[$1 + 1])) }
        while total > 0xFFFF { total = (total & 0xFFFF) + (total >> 16) }
        return total
    }

    @Test("a stamped 200-byte datagram: lengths, addresses, ports, checksums, and the stamp read back", arguments: [66, 200, 1514])
    func stampedDatagram(size: Int) throws {
        var options = GenerateOptions()
        options.size = size
        options.udp = .init(source: [198, 18, 0, 1], destination: [198, 18, 0, 2], sourcePort: 4242, destinationPort: 9000)
        let job = GenerateJob(options)
        defer { job.template.deallocate() }
        var frame = options.template()
        let stamp = ProbeStamp(flow: 0xDEAD_BEEF, sequence: 77, sentNanoseconds: 123_456_789)
        let checksum = try #require(job.udpSum)
        frame.withUnsafeMutableBytes { bytes in
            stamp.writeUDPPayload(into: bytes)
            let stampBytes = UnsafeRawBufferPointer(rebasing: bytes[ProbeStamp.udpPayloadOffset..<ProbeStamp.minimumUDPLength])
            bytes.storeBytes(of: InternetChecksum.finishUDP(checksum &+ InternetChecksum.sum(stampBytes)).bigEndian, toByteOffset: 40, as: UInt16.self)
        }
        #expect(frame[12] == 0x08 && frame[13] == 0x00 && frame[14] == 0x45 && frame[23] == 17)
        #expect(Int(frame[16]) << 8 | Int(frame[17]) == size - 14, "IPv4 total length")
        #expect(Int(frame[38]) << 8 | Int(frame[39]) == size - 34, "UDP length")
        #expect(Array(frame[26..<34]) == [198, 18, 0, 1, 198, 18, 0, 2])
        #expect(Int(frame[34]) << 8 | Int(frame[35]) == 4242 && Int(frame[36]) << 8 | Int(frame[37]) == 9000)
        #expect(Self.fold(frame[14..<34]) == 0xFFFF, "IPv4 header checksum")
        let pseudo: [UInt8] = Array(frame[26..<34]) + [0, 17, UInt8((size - 34) >> 8), UInt8((size - 34) & 0xFF)]
        #expect(Self.fold(ArraySlice(pseudo + frame[34...])) == 0xFFFF, "UDP checksum")
        #expect(frame.withUnsafeBytes { ProbeStamp.read(RawSpan(_unsafeBytes: $0)) } == stamp)
        // Fragments carry no stamp to read: a later one's payload is not where a stamp goes.
        frame[21] = 0x10
        #expect(frame.withUnsafeBytes { ProbeStamp.read(RawSpan(_unsafeBytes: $0)) } == nil)
    }
}
