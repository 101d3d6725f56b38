import CShims
import Foundation
import PageFrag
import Testing
import TestSupport
import VethLab
@testable import XSK

/// The frame parser that decides what reaches xskd is the XDP program's: it reads Ethernet,
/// one VLAN tag, IPv4/IPv6 and the UDP/TCP destination port of frames straight off the wire.
/// Here it is run in the kernel (BPF_PROG_TEST_RUN) on seeded random frames, most of them
/// truncated or malformed on purpose, under random filters, and every verdict is compared with
/// a model of the filter written from its documentation.
@Suite("The XDP filter against its model on random and malformed frames", .serialized, Root.required)
struct FilterProgramTests {
    /// What the filter promises: a frame matches if every field set in the filter matches, and
    /// a frame too short to show a field the filter asks about never matches.
    static func modelMatches(_ frame: [UInt8], _ filter: TrafficFilter) -> Bool {
        func be16(_ at: Int) -> UInt16 { UInt16(frame[at]) << 8 | UInt16(frame[at + 1]) }
        guard frame.count >= 14 else { return false }
        // No field asked about: every frame with an Ethernet header (a VLAN tag cut short too).
        if filter.ethertype == nil, filter.ipProtocol == nil, filter.destinationPorts == nil { return true }
        var proto = be16(12)
        var next = 14
        if proto == 0x8100 || proto == 0x88A8 {
            guard frame.count >= 18 else { return false }
            proto = be16(16)
            next = 18
        }
        if let ethertype = filter.ethertype, proto != ethertype { return false }
        if filter.ipProtocol == nil, filter.destinationPorts == nil { return true }
        let ipProtocol: UInt8
        let transport: Int
        switch proto {
        case 0x0800:
            guard frame.count >= next + 20, frame[next] & 0x0F >= 5 else { return false }
            // A fragment (more-fragments or an offset) never matches a port filter.
            if filter.destinationPorts != nil, be16(next + 6) & 0x3FFF != 0 { return false }
            ipProtocol = frame[next + 9]
            transport = next + Int(frame[next] & 0x0F) * 4
        case 0x86DD:
            guard frame.count >= next + 40 else { return false }
            ipProtocol = frame[next + 6]
            transport = next + 40
        default:
            return false
        }
        if let wanted = filter.ipProtocol, ipProtocol != wanted { return false }
        guard let ports = filter.destinationPorts else { return true }
        switch ipProtocol {
        case 17: guard frame.count >= transport + 8 else { return false }
        case 6: guard frame.count >= transport + 20 else { return false }
        default: return false
        }
        return ports.contains(be16(transport + 2))
    }

    /// A frame built to reach every branch: tagged or not, IPv4 with any header length and
    /// fragmented or not, IPv6,
    /// other ethertypes, UDP/TCP/other, ports near the filter's bounds, cut at any length.
    static func randomFrame(_ random: inout SeededGenerator, near filter: TrafficFilter) -> [UInt8] {
        if Int.random(in: 0..<10, using: &random) == 0 {
            return (0..<Int.random(in: 14...128, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        var frame: [UInt8] = (0..<12).map { _ in UInt8.random(in: 0...255, using: &random) }
        func append16(_ value: UInt16) { frame += [UInt8(value >> 8), UInt8(value & 0xFF)] }
        let ethertypes: [UInt16] = [0x0800, 0x86DD, 0x88B5, 0x0806, filter.ethertype ?? 0x0800, .random(in: 0...0xFFFF, using: &random)]
        let proto = ethertypes.randomElement(using: &random)!
        if Bool.random(using: &random) {
            append16(Bool.random(using: &random) ? 0x8100 : 0x88A8)
            append16(.random(in: 0...0xFFFF, using: &random))
        }
        append16(proto)
        let protocols: [UInt8] = [17, 6, 1, filter.ipProtocol ?? 17, .random(in: 0...255, using: &random)]
        let ipProtocol = protocols.randomElement(using: &random)!
        if proto == 0x0800 {
            let ihl = UInt8.random(in: 0...15, using: &random)
            var header = [UInt8](repeating: 0, count: max(20, Int(ihl) * 4))
            header[0] = 0x40 | ihl
            header[9] = ipProtocol
            // Flags and fragment offset: whole, first fragment, later fragment, last fragment,
            // or don't-fragment alone.
            let fragment: UInt16 = [0, 0x2000, 0x2000 | 185, 370, 0x4000].randomElement(using: &random)!
            header[6] = UInt8(fragment >> 8)
            header[7] = UInt8(fragment & 0xFF)
            frame += header
        } else if proto == 0x86DD {
            var header = [UInt8](repeating: 0, count: 40)
            header[0] = 0x60
            header[6] = ipProtocol
            frame += header
        }
        let bounds = filter.destinationPorts ?? 9000...9100
        let port: UInt16 = [bounds.lowerBound, bounds.upperBound, bounds.lowerBound &- 1, bounds.upperBound &+ 1, .random(in: 0...0xFFFF, using: &random)]
            .randomElement(using: &random)!
        append16(.random(in: 0...0xFFFF, using: &random))
        append16(port)
        frame += (0..<Int.random(in: 0...24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        // Cut anywhere (the kernel takes no frame under 14 bytes).
        return Array(frame.prefix(Int.random(in: 14...frame.count, using: &random)))
    }

    static func randomFilter(_ random: inout SeededGenerator) -> TrafficFilter {
        var filter = TrafficFilter()
        if Bool.random(using: &random) { filter.ethertype = [0x0800, 0x86DD, 0x88B5].randomElement(using: &random)! }
        if Bool.random(using: &random) { filter.ipProtocol = [17, 6, 1].randomElement(using: &random)! }
        if Bool.random(using: &random) {
            let low = UInt16.random(in: 0...0xFFFF, using: &random)
            filter.destinationPorts = low...UInt16.random(in: low...min(0xFFFF, low &+ 200), using: &random)
        }
        return filter
    }

    @Test("60 random filters x 500 frames: the program redirects exactly what the model says")
    func programAgreesWithModel() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        // A socket in slot 0 of the XSK map, so that a match returns XDP_REDIRECT (with the
        // slot empty, the program passes matches too). Test runs redirect nothing.
        let pool = try XSKQueueTests.pool()
        let socket = try XSKQueueTests.socket(lab, pool: pool, programs: programs)
        defer { socket.close() }
        var random = SeededGenerator(seed: 0x5EED)
        var frames = 0
        var matched = 0
        for _ in 0..<60 {
            let filter = Self.randomFilter(&random)
            try programs.setFilter(filter)
            for _ in 0..<500 {
                let frame = Self.randomFrame(&random, near: filter)
                let action = try programs.testRun(.redirect, frame: frame)
                let expected = Self.modelMatches(frame, filter)
                #expect(action == (expected ? XDP_REDIRECT.rawValue : XDP_PASS.rawValue),
                        "filter \(filter), frame \(frame.map { String(format: "%02x", $0) }.joined())")
                frames += 1
                if expected { matched += 1 }
            }
        }
        // Both verdicts must have been exercised for the comparison to mean anything.
        #expect(matched > frames / 20 && matched < frames - frames / 20, "\(matched) of \(frames) matched")
        print("filter program: \(frames) frames compared with the model, \(matched) matched")
    }

    @Test("the in-kernel reflector swaps the addresses of any frame of 14 bytes or more")
    func reflectorOnShortFrames() throws {
        let programs = try XDPPrograms(logger: TestLog.logger)
        for length in [14, 15, 60, 1514] {
            #expect(try programs.testRun(.reflect, frame: [UInt8](repeating: 0xAB, count: length)) == XDP_TX.rawValue)
        }
        #expect(throws: XSKError.self) { _ = try programs.testRun(.reflect, frame: [UInt8](repeating: 0, count: 13)) }
    }
}
