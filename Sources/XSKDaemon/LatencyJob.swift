// The latency job: stamped probe frames sent to a reflecting peer (xskd's reflect on the far
// side, or any L2 reflector that swaps the MACs) and taken back on the same queue, each one's
// round trip (now minus the send time it carries) recorded in a histogram, and its sequence
// followed (probes lost, reordered or duplicated on the way). Paced at --rate probes per
// second, or with --rate 0 one at a time: the next leaves when the last came back (or after a
// second without it). With --count the job finishes once every probe is back or a second has
// passed since the last was sent.

import XSKJobs

/// Sends probes and times their return.
struct LatencyJob: PacketJob {
    let template: UnsafeMutableRawBufferPointer
    /// This queue's flow in this run: replies of other flows (another run's) are not counted.
    let flow = UInt32.random(in: 0...UInt32.max)
    let limit: UInt64
    /// Paces the probes; without an interval, one at a time.
    var pacer: FramePacer
    let clock = ContinuousClock()
    var lastSent: ContinuousClock.Instant
    var sequence: UInt64 = 0
    var returned: UInt64 = 0
    var measured = JobMeasurements()

    /// How long a probe is waited for before the next one (one at a time) or the end (--count).
    static let timeout = Duration.seconds(1)

    init(_ options: GenerateOptions) {
        template = options.allocateTemplate()
        limit = options.limit
        pacer = FramePacer(interval: options.interval)
        lastSent = clock.now - Self.timeout
    }

    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        while let frame = frames.next() {
            if let stamp = frame.withBytes({ ProbeStamp.read($0) }), stamp.flow == flow {
                measured.roundTrips.record(ProbeStamp.now() &- stamp.sentNanoseconds)
                measured.sequences.record(stamp)
                returned &+= 1
            }
            context.release(frame)
        }
    }

    mutating func produce(context: inout JobContext) -> Int {
        let now = clock.now
        guard sequence < limit else {
            if returned >= limit || now - lastSent >= Self.timeout {
                context.finish()
            } else {
                context.wake(after: .milliseconds(10))
            }
            return 0
        }
        if pacer.interval != nil {
            // Probes due since the last round, at most a burst of 64 (the machine paused).
            let due = pacer.allowed(upTo: 64, context: &context)
            guard due > 0 else { return 0 }
            let sent = send(count: due, context: &context)
            pacer.sent(sent)
            if sent < due { context.wake(after: .microseconds(50)) }
            return sent
        }
        // One at a time: the next when the last is back, or after the timeout.
        if sequence > returned, now - lastSent < Self.timeout {
            context.wake(after: Self.timeout - (now - lastSent))
            return 0
        }
        return send(count: 1, context: &context)
    }

    /// Builds and sends up to `count` probes, each stamped with its own send time.
    private mutating func send(count: Int, context: inout JobContext) -> Int {
        let allowed = min(count, Int(clamping: limit &- sequence), context.transmitSpace())
        var sent = 0
        while sent < allowed, var frame = context.makeFrame(length: template.count) {
            let stamp = ProbeStamp(flow: flow, sequence: sequence, sentNanoseconds: ProbeStamp.now())
            frame.withUnsafeMutableBytes { bytes in
                bytes.copyMemory(from: UnsafeRawBufferPointer(template))
                stamp.write(into: bytes)
            }
            context.transmit(frame)
            sequence &+= 1
            sent += 1
        }
        if sent > 0 { lastSent = clock.now }
        return sent
    }

    var measurements: JobMeasurements { measured }

    mutating func stop(context: inout JobContext) {
        template.deallocate()
    }
}
