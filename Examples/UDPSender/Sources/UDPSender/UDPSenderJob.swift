import XSKJobs

/// The addresses every datagram carries.
struct Addresses: Sendable {
    var sourceMAC: [UInt8]       // 6 bytes
    var destinationMAC: [UInt8]  // 6 bytes
    var sourceIP: [UInt8]        // 4 bytes
    var destinationIP: [UInt8]   // 4 bytes
    var sourcePort: UInt16
    var destinationPort: UInt16
}

/// Frame layout: Ethernet (14) + IPv4 without options (20) + UDP (8) + payload (64).
enum Layout {
    static let ethernet = 14
    static let ipv4 = 20
    static let udp = 8
    static let payload = 64
    static let ipOffset = ethernet                       // 14
    static let udpOffset = ethernet + ipv4               // 34
    static let payloadOffset = ethernet + ipv4 + udp     // 42
    static let frameLength = payloadOffset + payload     // 106
    static let udpLength = udp + payload                 // 72
    static let ipTotalLength = ipv4 + udp + payload      // 92
}

/// Sends `count` UDP/IPv4 datagrams at `rate` per second, numbered 0, 1, … in the first 8
/// bytes of the payload (little-endian), then says it has finished. Transmit only: whatever
/// the filter lets in is given straight back.
struct UDPSenderJob: PacketJob {
    /// Every byte of a frame except the sequence number and the UDP checksum, made before the
    /// run (the hot path must not allocate).
    private let template: [UInt8]
    /// The UDP checksum's sum over the pseudo-header and every constant byte of the datagram
    /// (the sequence number and the checksum field taken as zero), not yet folded.
    private let constantUDPSum: UInt32
    private let count: UInt64
    private let rate: UInt64
    private var sent: UInt64 = 0
    private var start: ContinuousClock.Instant?

    init(addresses: Addresses, count: UInt64, rate: UInt64) {
        precondition(rate > 0)
        self.count = count
        self.rate = rate
        var frame = [UInt8](repeating: 0, count: Layout.frameLength)
        // Ethernet
        frame.replaceSubrange(0..<6, with: addresses.destinationMAC)
        frame.replaceSubrange(6..<12, with: addresses.sourceMAC)
        frame[12] = 0x08; frame[13] = 0x00
        // IPv4
        let ip = Layout.ipOffset
        frame[ip + 0] = 0x45                                  // version 4, IHL 5
        frame[ip + 1] = 0                                     // DSCP/ECN
        put16(&frame, ip + 2, UInt16(Layout.ipTotalLength))   // total length
        put16(&frame, ip + 4, 0)                              // identification
        put16(&frame, ip + 6, 0x4000)                         // don't fragment
        frame[ip + 8] = 64                                    // TTL
        frame[ip + 9] = 17                                    // UDP
        frame.replaceSubrange((ip + 12)..<(ip + 16), with: addresses.sourceIP)
        frame.replaceSubrange((ip + 16)..<(ip + 20), with: addresses.destinationIP)
        let headerChecksum = frame.withUnsafeBytes { bytes in
            Checksum.fold(Checksum.sum(UnsafeRawBufferPointer(rebasing: bytes[ip..<(ip + Layout.ipv4)])))
        }
        put16(&frame, ip + 10, headerChecksum)
        // UDP (checksum left zero here, filled in per datagram)
        let udp = Layout.udpOffset
        put16(&frame, udp + 0, addresses.sourcePort)
        put16(&frame, udp + 2, addresses.destinationPort)
        put16(&frame, udp + 4, UInt16(Layout.udpLength))
        // Payload: the sequence number goes in bytes 0..<8; bytes 8..<64 say who sent it.
        let tag = Array("xskd UDPSender".utf8)
        frame.replaceSubrange((Layout.payloadOffset + 8)..<(Layout.payloadOffset + 8 + tag.count), with: tag)
        template = frame

        // Pseudo-header: source and destination address, zero, protocol, UDP length.
        var pseudo = [UInt8](repeating: 0, count: 12)
        pseudo.replaceSubrange(0..<4, with: addresses.sourceIP)
        pseudo.replaceSubrange(4..<8, with: addresses.destinationIP)
        pseudo[9] = 17
        put16(&pseudo, 10, UInt16(Layout.udpLength))
        let pseudoSum = pseudo.withUnsafeBytes { Checksum.sum($0) }
        let datagramSum = frame.withUnsafeBytes { bytes in
            Checksum.sum(UnsafeRawBufferPointer(rebasing: bytes[Layout.udpOffset...]))
        }
        constantUDPSum = pseudoSum &+ datagramSum
    }

    /// Transmit only: nothing should come in, and whatever does goes straight back.
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        while let frame = frames.next() { context.release(frame) }
    }

    mutating func produce(context: inout JobContext) -> Int {
        if sent == count {
            // Finish one round after the last transmit, so that the round that staged the
            // last frames has handed them to the kernel.
            if !context.isFinished { context.finish() }
            return 0
        }
        let now = ContinuousClock.now
        if start == nil { start = now }
        // Frame n is due at start + n / rate.
        let due = min(count, dueCount(at: now))
        var budget = min(Int(due - sent), context.transmitSpace())
        var built = 0
        while budget > 0 {
            guard var frame = context.makeFrame(length: Layout.frameLength) else { break }
            let sequence = sent
            frame.withUnsafeMutableBytes { bytes in write(sequence: sequence, into: bytes) }
            context.transmit(frame)
            sent += 1
            built += 1
            budget -= 1
        }
        if sent < count {
            // Come back when the next frame is due (at once if we are behind: a full ring or
            // no free buffer).
            let next = start! + interval(for: sent)
            let delay = next - ContinuousClock.now
            context.wake(after: delay > .zero ? delay : .zero)
        }
        return built
    }

    /// How many frames are due by `now`: frame n is due at start + n / rate.
    private func dueCount(at now: ContinuousClock.Instant) -> UInt64 {
        let elapsed = now - start!
        let (seconds, attoseconds) = elapsed.components
        let nanoseconds = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        // (ns * rate) / 1e9 + 1, split to stay within 64 bits for long runs.
        let whole = (nanoseconds / 1_000_000_000) &* rate
        let part = (nanoseconds % 1_000_000_000) &* rate / 1_000_000_000
        return whole &+ part &+ 1
    }

    private func interval(for frame: UInt64) -> Duration {
        let seconds = frame / rate
        let remainder = frame % rate
        return .seconds(Int64(seconds)) + .nanoseconds(Int64(remainder * 1_000_000_000 / rate))
    }

    /// The template, then the sequence number, then the UDP checksum.
    private func write(sequence: UInt64, into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Layout.frameLength)
        template.withUnsafeBytes { source in
            bytes.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: Layout.frameLength)
        }
        bytes.storeBytes(of: sequence.littleEndian, toByteOffset: Layout.payloadOffset, as: UInt64.self)
        // Add the sequence number's four 16-bit words (big-endian, as on the wire) to the sum.
        var sum = constantUDPSum
        for word in 0..<4 {
            let offset = Layout.payloadOffset + 2 * word
            sum &+= UInt32(bytes[offset]) << 8 | UInt32(bytes[offset + 1])
        }
        var checksum = Checksum.fold(sum)
        if checksum == 0 { checksum = 0xFFFF }  // zero means "no checksum" in UDP/IPv4
        bytes.storeBytes(of: checksum.bigEndian, toByteOffset: Layout.udpOffset + 6, as: UInt16.self)
    }
}

/// The Internet checksum (RFC 1071).
enum Checksum {
    /// The sum of the bytes as big-endian 16-bit words (an odd last byte padded with zero).
    static func sum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum &+= UInt32(bytes[index]) << 8 }
        return sum
    }

    /// Folds the carries back in and complements.
    static func fold(_ sum: UInt32) -> UInt16 {
        var sum = sum
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

private func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt16) {
    bytes[offset] = UInt8(value >> 8)
    bytes[offset + 1] = UInt8(value & 0xFF)
}
