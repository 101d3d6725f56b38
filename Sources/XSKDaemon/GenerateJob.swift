// The generate job: frames built in TX buffers from a template, each stamped with its
// sequence number, as fast as the TX ring takes them or paced to a rate, up to a count. It
// never builds more than the ring can take, so no numbered frame is dropped on the way out.

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

    /// Raw Ethernet with the IEEE local experimental ethertype, a locally administered source
    /// address, and room for the stamp (`ProbeStamp`: sequence, magic, flow, send time) after
    /// the header; the rest a byte pattern.
    func template() -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: size)
        frame.replaceSubrange(0..<6, with: destination)
        frame.replaceSubrange(6..<12, with: [0x02, 0x78, 0x73, 0x6B, 0x64, 0x02])
        frame[12] = 0x88
        frame[13] = 0xB5
        for index in ProbeStamp.minimumLength..<size { frame[index] = UInt8(truncatingIfNeeded: index) }
        return frame
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

    init(_ options: GenerateOptions) {
        template = options.allocateTemplate()
        limit = options.limit
        pacer = FramePacer(interval: options.interval)
    }

    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        // The generator keeps nothing it receives; the batch's frames are released.
    }

    mutating func produce(context: inout JobContext) -> Int {
        guard sequence < limit else {
            context.finish()
            return 0
        }
        let space = context.transmitSpace()
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
            frame.withUnsafeMutableBytes { bytes in
                bytes.copyMemory(from: UnsafeRawBufferPointer(template))
                stamp.write(into: bytes)
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
