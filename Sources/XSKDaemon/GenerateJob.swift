// The generate job: frames built in TX buffers from a template, each stamped with its
// sequence number, as fast as the TX ring takes them or paced to a rate, up to a count. It
// never builds more than the ring can take, so no numbered frame is dropped on the way out.
// Raw Ethernet frames by default; with a destination IPv4 address, UDP/IPv4 datagrams with valid
// IP and UDP checksums that an ordinary socket on the peer receives: the IP header and the UDP
// sum of everything but the stamp are computed once, and each frame adds only its stamp's words.

import XSKJobs

/// What the generate job sends.
struct GenerateOptions: Sendable {
    /// Frame length in bytes.
    var size = 64
    /// Frames per second per queue; 0 sends as fast as the ring takes them.
    var rate: Double = 0
    /// Frames per queue; nil sends until stopped.
    var count: Int?
    /// Destination MAC address.
    var destination: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    /// UDP/IPv4 datagrams instead of raw frames, between these endpoints.
    var udp: UDPEndpoints?

    /// Where generated UDP datagrams go from and to.
    struct UDPEndpoints: Sendable, Equatable {
        var source: [UInt8] = [198, 18, 0, 1]
        var destination: [UInt8]
        var sourcePort: UInt16 = 9
        var destinationPort: UInt16 = 9
    }

    /// The source MAC address: locally administered.
    static let source: [UInt8] = [0x02, 0x78, 0x73, 0x6B, 0x64, 0x02]

    /// Raw Ethernet with the IEEE local experimental ethertype, a locally administered source
    /// address, and room for the stamp (`ProbeStamp`: sequence, magic, flow, send time) after
    /// the header; the rest a byte pattern.
    /// With `udp`: an IPv4 header (DF, TTL 64, its checksum filled in) and a UDP header whose
    /// checksum is left 0 for `udpPartialSum` and the stamp to complete.
    func template() -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: size)
        frame.replaceSubrange(0..<6, with: destination)
        frame.replaceSubrange(6..<12, with: Self.source)
        guard let udp else {
            frame[12] = 0x88
            frame[13] = 0xB5
            for index in ProbeStamp.minimumLength..<size { frame[index] = UInt8(truncatingIfNeeded: index) }
            return frame
        }
        precondition(size >= ProbeStamp.minimumUDPLength, "a stamped UDP frame is at least \(ProbeStamp.minimumUDPLength) bytes")
        func put16(_ value: Int, at offset: Int) {
            frame[offset] = UInt8(truncatingIfNeeded: value >> 8)
            frame[offset + 1] = UInt8(truncatingIfNeeded: value)
        }
        put16(0x0800, at: 12)
        frame[14] = 0x45
        put16(size - 14, at: 16)
        put16(0x4000, at: 20)  // don't fragment, offset 0
        frame[22] = 64
        frame[23] = 17
        frame.replaceSubrange(26..<30, with: udp.source)
        frame.replaceSubrange(30..<34, with: udp.destination)
        let header = frame[14..<34].withUnsafeBytes { InternetChecksum.sum($0) }
        put16(Int(InternetChecksum.finish(header)), at: 24)
        put16(Int(udp.sourcePort), at: 34)
        put16(Int(udp.destinationPort), at: 36)
        put16(size - 34, at: 38)
        for index in ProbeStamp.minimumUDPLength..<size { frame[index] = UInt8(truncatingIfNeeded: index) }
        return frame
    }

    /// The UDP checksum's sum over the pseudo-header, the UDP header (checksum 0) and the
    /// payload with its stamp bytes zero: each frame adds its stamp's sum and finishes it.
    func udpPartialSum(_ frame: [UInt8]) -> UInt32 {
        let pseudo: [UInt8] = Array(frame[26..<34]) + [0, 17, UInt8((size - 34) >> 8), UInt8(truncatingIfNeeded: size - 34)]
        let segment = frame[34..<size].withUnsafeBytes { InternetChecksum.sum($0) }
        return InternetChecksum.fold(pseudo.withUnsafeBytes { InternetChecksum.sum($0) } &+ segment)
    }

    /// The template in memory of its own, for a job to copy from (and free at its stop).
    func allocateTemplate() -> UnsafeMutableRawBufferPointer {
        let bytes = template()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        buffer.copyBytes(from: bytes)
        return buffer
    }

    /// Frames per queue, `UInt64.max` for no limit.
    var limit: UInt64 { count.map(UInt64.init) ?? .max }

    /// The time between two frames at `rate`; nil for no pacing.
    var interval: Duration? { rate > 0 ? .nanoseconds(Int64(1e9 / rate)) : nil }
}

/// Sends stamped frames: one flow per queue and run, numbered from 0.
struct GenerateJob: PacketJob {
    let template: UnsafeMutableRawBufferPointer
    /// This queue's flow in this run: a new run is a new flow to the receivers.
    let flow = UInt32.random(in: 0...UInt32.max)
    let limit: UInt64
    var pacer: FramePacer
    var sequence: UInt64 = 0
    /// UDP datagrams: the template's partial UDP sum, to which each frame adds its stamp's.
    let udpSum: UInt32?

    init(_ options: GenerateOptions) {
        template = options.allocateTemplate()
        limit = options.limit
        pacer = FramePacer(interval: options.interval)
        udpSum = options.udp == nil ? nil : options.udpPartialSum(options.template())
    }

    /// What came back (from a reflector): its sequences, for loss on the round trip.
    var measured = JobMeasurements()

    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        // Stamped frames that come back (a reflector's) are followed; nothing is kept.
        while let frame = frames.next() {
            if let stamp = frame.withBytes({ ProbeStamp.read($0) }) { measured.sequences.record(stamp) }
            context.release(frame)
        }
    }

    var measurements: JobMeasurements { measured }

    mutating func produce(context: inout JobContext) -> Int {
        guard sequence < limit else {
            context.finish()
            return 0
        }
        // A frame longer than one chunk is a chain: it takes that many TX ring slots.
        let space = context.transmitSpace() / context.buffers(forFrameOf: template.count)
        if space == 0 {
            // The ring is full: come back soon, after completions have made room.
            context.wake(after: .microseconds(50))
            return 0
        }
        // Frames due since the last batch, at most one ring's worth at a time.
        let allowed = pacer.allowed(upTo: min(space, Int(clamping: limit &- sequence)), context: &context)
        guard allowed > 0 else { return 0 }
        pacer.sent(allowed)
        var built = 0
        // One clock read per batch: the frames of a batch leave together.
        let sent = ProbeStamp.now()
        while built < allowed, var frame = context.makeFrame(length: template.count) {
            let stamp = ProbeStamp(flow: flow, sequence: sequence &+ UInt64(built), sentNanoseconds: sent)
            // A chain gets the template across its buffers; the stamp and checksum are in
            // the headers, in its first buffer.
            let chained = frame.bufferCount > 1
            if chained { frame.copyIn(UnsafeRawBufferPointer(template)) }
            frame.withUnsafeMutableBytes { bytes in
                if !chained { bytes.copyMemory(from: UnsafeRawBufferPointer(template)) }
                if let udpSum {
                    stamp.writeUDPPayload(into: bytes)
                    let stampBytes = UnsafeRawBufferPointer(rebasing: bytes[ProbeStamp.udpPayloadOffset..<ProbeStamp.minimumUDPLength])
                    let checksum = InternetChecksum.finishUDP(udpSum &+ InternetChecksum.sum(stampBytes))
                    bytes.storeBytes(of: checksum.bigEndian, toByteOffset: 40, as: UInt16.self)
                } else {
                    stamp.write(into: bytes)
                }
            }
            context.transmit(frame)
            built += 1
        }
        sequence &+= UInt64(built)
        return built
    }

    mutating func stop(context: inout JobContext) {
        template.deallocate()
    }
}
