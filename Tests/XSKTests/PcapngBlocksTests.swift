import Testing
import PageFrag
import XSK
@testable import XSKJobs

/// The pcapng encoder and the capture's staging ring, without root: block layouts against the
/// format's fields, and the ring's wrap through its mirror mapping.
@Suite("pcapng blocks and the capture staging")
struct PcapngBlocksTests {
    static func word(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        bytes[at..<at + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    @Test("an enhanced packet block: header fields, zeroed padding, direction flags, both lengths")
    func enhancedPacket() {
        let frame: [UInt8] = Array(1...61)
        var block = [UInt8](repeating: 0xEE, count: PcapngBlocks.enhancedPacketLength(captured: 61))
        #expect(block.count == 44 + 64)
        let length = block.withUnsafeMutableBytes { destination in
            frame.withUnsafeBytes { source in
                PcapngBlocks.writeEnhancedPacket(
                    at: destination.baseAddress!, interface: 3, timestamp: 0x1_2345_6789, frame: source.baseAddress!,
                    captured: 61, original: 1500, direction: .outbound)
            }
        }
        #expect(length == block.count)
        #expect(Self.word(block, 0) == 6 && Self.word(block, 4) == UInt32(length) && Self.word(block, length - 4) == UInt32(length))
        #expect(Self.word(block, 8) == 3 && Self.word(block, 12) == 1 && Self.word(block, 16) == 0x2345_6789)
        #expect(Self.word(block, 20) == 61 && Self.word(block, 24) == 1500)
        #expect(Array(block[28..<89]) == frame && block[89..<92].allSatisfy { $0 == 0 })
        #expect(Self.word(block, 92) == 2 | 4 << 16 && Self.word(block, 96) == 2 && Self.word(block, 100) == 0)
    }

    @Test("a file header: one section header and one interface description per interface, lengths framed")
    func fileHeader() {
        let header = PcapngBlocks.fileHeader(
            interfaces: [.init(name: "eth0", description: "xskd queue 0 of eth0"), .init(name: "eth1", description: "q1")],
            snapLength: 128, application: "xskd test")
        var at = 0
        var types: [UInt32] = []
        while at < header.count {
            let length = Int(Self.word(header, at + 4))
            #expect(length % 4 == 0 && Self.word(header, at + length - 4) == UInt32(length))
            types.append(Self.word(header, at))
            at += length
        }
        #expect(at == header.count && types == [0x0A0D_0D0A, 1, 1])
        #expect(Self.word(header, 8) == 0x1A2B_3C4D)
    }

    @Test("rotated file names carry the number before the extension")
    func rotatedNames() {
        #expect(CaptureSettings(path: "/var/tmp/cap.pcapng").rotatedPath(3) == "/var/tmp/cap.0003.pcapng")
        #expect(CaptureSettings(path: "cap").rotatedPath(12) == "cap.0012")
        #expect(CaptureSettings(path: "/a.b/cap").rotatedPath(0) == "/a.b/cap.0000")
        #expect(CaptureSettings(path: "/tmp/.hidden").rotatedPath(1) == "/tmp/.hidden.0001")
        #expect(CaptureSettings(path: "x.pcapng").rotatedPath(12345) == "x.12345.pcapng")
    }

    @Test("the staging ring: blocks across its end come out whole, a full ring drops and counts")
    func stagingWraps() throws {
        let staging = try CaptureStaging(minimumBytes: 1)
        #expect(staging.capacity == 1 << 20)
        var settings = CaptureSettings(path: "unused")
        settings.snapLength = 1000
        var producer = CaptureProducer(staging: staging, settings: settings, firstInterface: 0, epochOffset: 0, portCount: 1)
        defer { producer.end() }
        // A fake UMEM with one 1000-byte frame at offset 0.
        let base = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { base.deallocate() }
        for index in 0..<1000 { base.storeBytes(of: UInt8(truncatingIfNeeded: index), toByteOffset: index, as: UInt8.self) }
        var frame = ReceivedFrame(fragment: .init(offset: 0, length: 2048), address: 0, length: 1000)
        let block = PcapngBlocks.enhancedPacketLength(captured: 1000)
        var written = 0
        // Fill, drain, fill again: the second round's blocks cross the ring's end.
        for round in 0..<2 {
            let fit = staging.capacity / block
            for _ in 0..<fit + 5 { producer.record(&frame, count: 1, port: 0, base: base, direction: .inbound) }
            #expect(producer.counters[0].dropped == UInt64(5 * (round + 1)))
            let (start, count, _) = staging.pending()
            #expect(count == fit * block)
            for index in 0..<fit {
                let at = start + index * block
                #expect(at.load(fromByteOffset: 4, as: UInt32.self) == UInt32(block))
                #expect(at.load(fromByteOffset: 28 + 999, as: UInt8.self) == UInt8(truncatingIfNeeded: 999))
                #expect(at.load(fromByteOffset: block - 4, as: UInt32.self) == UInt32(block))
            }
            staging.consume(count)
            written += count
        }
        #expect(written % staging.capacity != 0, "the second round started mid-ring")
    }
}
