// The template frame the generator copies: raw Ethernet with the IEEE local experimental
// ethertype, or IPv4/UDP with a valid header checksum. Either way the 64-bit little-endian
// sequence number goes where a receiver looks for it: right after the Ethernet header for raw
// frames, at the start of the UDP payload otherwise. Raw frames carry xskd's stamp
// (`ProbeStamp`): a flow of this run, and the sequence the kernel program writes; the send
// time stays 0 (a clock read per frame in the kernel would slow the generator that the
// benchmarks measure everything with).

import ArgumentParser
import XSKJobs

enum FrameTemplate {

    static func make(
        size: Int, destinationMAC: String, udpPort: UInt16?, source: String, destination: String
    ) throws -> (frame: [UInt8], sequenceOffset: Int) {
        var frame = [UInt8](repeating: 0, count: size)
        frame.replaceSubrange(0..<6, with: try mac(destinationMAC))
        frame.replaceSubrange(6..<12, with: [0x02, 0x78, 0x73, 0x6B, 0x64, 0x01])  // locally administered
        guard let udpPort else {
            for index in ProbeStamp.minimumLength..<size { frame[index] = UInt8(truncatingIfNeeded: index) }
            let stamp = ProbeStamp(flow: UInt32.random(in: 0...UInt32.max), sequence: 0, sentNanoseconds: 0)
            frame.withUnsafeMutableBytes { stamp.write(into: $0) }
            return (frame, ProbeStamp.sequenceOffset)
        }
        frame[12] = 0x08
        frame[13] = 0x00
        let ipLength = size - 14
        let udpLength = ipLength - 20
        var ip: [UInt8] = [
            0x45, 0, UInt8(ipLength >> 8), UInt8(ipLength & 0xFF), 0, 0, 0x40, 0, 64, 17, 0, 0,
        ]
        ip += try ipv4(source)
        ip += try ipv4(destination)
        let checksum = internetChecksum(ip)
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        frame.replaceSubrange(14..<34, with: ip)
        let udp: [UInt8] = [0x9C, 0x40, UInt8(udpPort >> 8), UInt8(udpPort & 0xFF), UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
        frame.replaceSubrange(34..<42, with: udp)  // UDP checksum 0: none, allowed over IPv4
        return (frame, 42)
    }

    static func mac(_ text: String) throws -> [UInt8] {
        let parts = text.split(separator: ":")
        guard parts.count == 6, let bytes = Optional(parts.compactMap { UInt8($0, radix: 16) }), bytes.count == 6 else {
            throw ValidationError("'\(text)' is not a MAC address (aa:bb:cc:dd:ee:ff)")
        }
        return bytes
    }

    static func ipv4(_ text: String) throws -> [UInt8] {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { UInt8($0) }
        guard parts.count == 4, bytes.count == 4 else { throw ValidationError("'\(text)' is not an IPv4 address") }
        return bytes
    }

    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.count ? bytes[index + 1] : 0)
        }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
