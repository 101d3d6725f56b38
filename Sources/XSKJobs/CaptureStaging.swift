// A capture's staging area for one poll thread: a single-producer, single-consumer byte ring
// of finished pcapng blocks. The poll thread writes blocks into it and publishes its head once
// per batch (a release store); the writer thread reads from its tail to the head, writes the
// bytes to the file and publishes the tail. Neither side locks, waits for the other or makes
// a system call: a full ring means the frame is not captured (counted), never a stall.
//
// The ring is mapped twice, back to back, over the same memory (a memfd), so a block that runs
// past the ring's end lands at its start without the producer splitting its copy, and the
// writer hands any stretch of it to one write(2): contiguous bytes, whatever the wrap.

import CShims
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// One poll thread's staging ring of pcapng blocks, shared with the capture's writer.
public final class CaptureStaging: @unchecked Sendable {
    // Unchecked: the bytes and indices are shared by exactly one producer (the poll thread) and
    // one consumer (the writer), through the acquire/release indices in `control`.
    /// The ring's bytes: `capacity` of them, mapped twice in a row.
    let bytes: UnsafeMutableRawPointer
    /// Bytes in the ring, a power of two and a multiple of the page size.
    public let capacity: Int
    /// The shared indices, each on its own cache line: the head (bytes ever produced) at 0, the
    /// tail (bytes ever consumed) at 64, the writer's stop flag at 128.
    let control: UnsafeMutableRawPointer

    /// A ring of at least `minimumBytes` (rounded up to a power of two of at least 1 MiB, so that the longest block fits).
    public init(minimumBytes: Int) throws(SystemCallError) {
        var capacity = 1 << 20
        while capacity < minimumBytes { capacity <<= 1 }
        self.capacity = capacity
        let descriptor = try SystemCall.checked("memfd_create", context: "capture staging of \(capacity) bytes") {
            cshims_memfd_create("xskd-capture")
        }
        defer { close(descriptor) }
        _ = try SystemCall.checked("ftruncate", context: "capture staging memfd to \(capacity) bytes") {
            ftruncate(descriptor, off_t(capacity))
        }
        // Reserve twice the size, then map the memfd over each half.
        let region = try SystemCall.mmap(
            length: 2 * capacity, protection: PROT_NONE, flags: MAP_PRIVATE | MAP_ANONYMOUS,
            context: "capture staging reservation of \(2 * capacity) bytes")
        do {
            for half in 0..<2 {
                _ = try SystemCall.mmap(
                    at: region + half * capacity, length: capacity, protection: PROT_READ | PROT_WRITE,
                    flags: MAP_SHARED | MAP_FIXED | MAP_POPULATE, fileDescriptor: descriptor,
                    context: "capture staging, half \(half) of \(capacity) bytes")
            }
        } catch {
            try? SystemCall.munmap(region, length: 2 * capacity)
            throw error
        }
        bytes = region
        control = .allocate(byteCount: 192, alignment: 64)
        control.initializeMemory(as: UInt8.self, repeating: 0, count: 192)
    }

    deinit {
        try? SystemCall.munmap(bytes, length: 2 * capacity)
        control.deallocate()
    }

    var headPointer: UnsafeMutablePointer<UInt64> { control.assumingMemoryBound(to: UInt64.self) }
    var tailPointer: UnsafeMutablePointer<UInt64> { (control + 64).assumingMemoryBound(to: UInt64.self) }
    var stoppedPointer: UnsafeMutablePointer<UInt32> { (control + 128).assumingMemoryBound(to: UInt32.self) }

    /// Bytes produced and not yet consumed, and where they start (contiguous: the mirror).
    func pending() -> (start: UnsafeMutableRawPointer, count: Int, tail: UInt64) {
        let head = cshims_load_acquire_u64(headPointer)
        let tail = tailPointer.pointee
        return (bytes + Int(truncatingIfNeeded: tail & UInt64(capacity - 1)), Int(truncatingIfNeeded: head &- tail), tail)
    }

    /// The writer is done with `count` bytes from the tail.
    func consume(_ count: Int) {
        cshims_store_release_u64(tailPointer, tailPointer.pointee &+ UInt64(count))
    }

    /// The writer can write no more: the producer stops staging (and counts what it does not
    /// stage as dropped).
    func markStopped() { cshims_store_relaxed_u32(stoppedPointer, 1) }
}

/// What one port's capture counted, published with its queue's counters.
public struct CaptureCounters: Sendable, Equatable {
    /// Frames copied into the capture's staging area (received and transmitted).
    public var staged: UInt64 = 0
    /// Frames the capture missed: its staging area was full (the writer fell behind) or the
    /// writer had stopped (a write failed). The data path never waits for the capture.
    public var dropped: UInt64 = 0
    /// No frames yet.
    public init() {}
}

/// The poll thread's side of a capture: stages the pcapng block of each frame it receives or
/// sends, one frame in `every`, at most `snapLength` bytes of each. A plain value with raw
/// pointers (no reference counting on the data path), valid while its `CaptureStaging` lives.
@usableFromInline
struct CaptureProducer {
    @usableFromInline let bytes: UnsafeMutableRawPointer
    @usableFromInline let mask: UInt64
    @usableFromInline let capacity: UInt64
    @usableFromInline let head: UnsafeMutablePointer<UInt64>
    @usableFromInline let tail: UnsafeMutablePointer<UInt64>
    @usableFromInline let stopped: UnsafeMutablePointer<UInt32>
    /// Bytes produced (published at `publish()`), and the last tail read.
    @usableFromInline var produced: UInt64 = 0
    @usableFromInline var cachedTail: UInt64 = 0
    @usableFromInline let snapLength: Int
    @usableFromInline let every: Int
    @usableFromInline var countdown: Int
    /// Whether the frames received, and the frames sent, are captured.
    @usableFromInline let inbound: Bool
    @usableFromInline let outbound: Bool
    /// The pcapng interface id of this thread's port 0 (ports follow in order).
    @usableFromInline let firstInterface: UInt32
    /// Wall-clock nanoseconds at monotonic 0: a frame's timestamp is the monotonic clock when
    /// xskd took or sent it plus this, so a queue's timestamps never go backwards.
    @usableFromInline let epochOffset: UInt64
    /// Per port.
    @usableFromInline let counters: UnsafeMutablePointer<CaptureCounters>
    @usableFromInline let portCount: Int

    init(staging: CaptureStaging, settings: CaptureSettings, firstInterface: UInt32, epochOffset: UInt64, portCount: Int) {
        bytes = staging.bytes
        capacity = UInt64(staging.capacity)
        mask = capacity - 1
        head = staging.headPointer
        tail = staging.tailPointer
        stopped = staging.stoppedPointer
        produced = head.pointee
        cachedTail = cshims_load_acquire_u64(tail)
        snapLength = settings.snapLength
        every = settings.sampling
        countdown = settings.sampling
        inbound = settings.inbound
        outbound = settings.outbound
        self.firstInterface = firstInterface
        self.epochOffset = epochOffset
        self.portCount = portCount
        counters = .allocate(capacity: portCount)
        counters.initialize(repeating: CaptureCounters(), count: portCount)
    }

    /// Frees the counters (after their last publication).
    func end() { counters.deallocate() }

    /// Stages `count` frames from `frames` (received on, or sent from, `port`). One clock read
    /// for the batch; the head is published at the end, once.
    @inlinable
    mutating func record(
        _ frames: UnsafePointer<ReceivedFrame>, count: Int, port: Int, base: UnsafeMutableRawPointer,
        direction: PcapngBlocks.Direction
    ) {
        if cshims_load_relaxed_u32(stopped) != 0 {
            counters[port].dropped &+= UInt64(count)
            return
        }
        let timestamp = ProbeStamp.now() &+ epochOffset
        let interface = firstInterface &+ UInt32(truncatingIfNeeded: port)
        var staged: UInt64 = 0
        var dropped: UInt64 = 0
        for index in 0..<count {
            countdown &-= 1
            guard countdown <= 0 else { continue }
            countdown = every
            let frame = frames[index]
            let original = Int(frame.length)
            let captured = min(original, snapLength)
            let length = UInt64(PcapngBlocks.enhancedPacketLength(captured: captured))
            if capacity &- (produced &- cachedTail) < length {
                cachedTail = cshims_load_acquire_u64(tail)
                if capacity &- (produced &- cachedTail) < length {
                    dropped &+= 1
                    continue
                }
            }
            let destination = bytes + Int(truncatingIfNeeded: produced & mask)
            if frame.segments > 1 {
                Self.writeChain(
                    frame, at: destination, base: base, interface: interface, timestamp: timestamp, captured: captured,
                    direction: direction)
            } else {
                let source = UnsafeRawPointer(base + Int(truncatingIfNeeded: frame.dataOffset))
                _ = PcapngBlocks.writeEnhancedPacket(
                    at: destination, interface: interface, timestamp: timestamp, frame: source, captured: captured,
                    original: original, direction: direction)
            }
            produced &+= length
            staged &+= 1
        }
        counters[port].staged &+= staged
        counters[port].dropped &+= dropped
        cshims_store_release_u64(head, produced)
    }

    /// A chain's block: its buffers' bytes gathered in order, up to `captured` (the snap
    /// length cuts a jumbo frame like any other).
    @inline(never)
    @usableFromInline
    static func writeChain(
        _ frame: ReceivedFrame, at destination: UnsafeMutableRawPointer, base: UnsafeMutableRawPointer,
        interface: UInt32, timestamp: UInt64, captured: Int, direction: PcapngBlocks.Direction
    ) {
        _ = PcapngBlocks.writeEnhancedPacket(
            at: destination, interface: interface, timestamp: timestamp, captured: captured, original: Int(frame.length),
            direction: direction
        ) { packet in
            var written = 0
            FrameChain.forEachBuffer(of: frame, base: base) { buffer in
                let count = min(Int(buffer.length), captured &- written)
                guard count > 0 else { return }
                (packet + written).copyMemory(from: base + Int(truncatingIfNeeded: buffer.dataOffset), byteCount: count)
                written &+= count
            }
        }
    }
}
