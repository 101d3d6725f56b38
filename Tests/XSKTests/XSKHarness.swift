import CShims
import Glibc
import PageFrag
import Testing
import VethLab
@testable import XSK
import TestSupport

/// One AF_XDP socket on one end of the lab (the device end unless told otherwise), with its pool, UMEM and the fragments it has
/// posted to the fill ring, and the bookkeeping to prove at the end that every fragment came
/// home. Tests drive it; the rings stay on the test's thread.
final class XSKHarness: @unchecked Sendable {
    let lab: VethLab
    let programs: XDPPrograms
    let link: XDPLink
    let pool: PagePool
    var umem: Umem?
    var socket: XSKSocket?
    var cache: PageFragCache
    /// Fragments in the fill ring or with the kernel, by UMEM offset.
    var posted: [UInt64: Fragment] = [:]
    let chunkSize: Int
    let side: VethLab.Side
    let queue: UInt32

    init(
        lab: VethLab, side: VethLab.Side = .device, queue: UInt32 = 0, mode: XDPAttachMode = .native,
        bindMode: XSKSocket.BindMode = .automatic, umemConfiguration: Umem.Configuration = .init(),
        rxSize: UInt32 = 2048, fillCount: Int = 1024, pool: PagePool? = nil
    ) throws {
        self.lab = lab
        self.side = side
        self.queue = queue
        let programs = try XDPPrograms(logger: TestLog.logger)
        self.programs = programs
        let interface = lab.interface(side)
        link = try lab.run(in: side) {
            try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: mode)
        }
        let pool = try pool ?? PagePool(
            configuration: .init(size: 16 << 20, pageOrder: 3, backing: .smallPages, tracksFragments: true),
            logger: TestLog.logger)
        self.pool = pool
        chunkSize = Int(umemConfiguration.chunkSize)
        cache = PageFragCache(pool: pool)
        let (umem, socket) = try lab.run(in: side) {
            let umem = try Umem(pool: pool, configuration: umemConfiguration, logger: TestLog.logger)
            var configuration = XSKSocket.Configuration(interface: interface, queue: queue)
            configuration.bindMode = bindMode
            configuration.rxSize = rxSize
            return (umem, try XSKSocket(umem: umem, configuration: configuration, logger: TestLog.logger))
        }
        self.umem = umem
        self.socket = socket
        try programs.insertSocket(socket.descriptor, queue: queue)
        refill(upTo: fillCount)
    }

    /// Posts up to `count` fresh fragments to the fill ring.
    @discardableResult
    func refill(upTo count: Int) -> Int {
        let fill = socket!.fill
        let batch = fill.reserve(upTo: count)
        var written = 0
        while written < batch.count, let fragment = cache.alloc(size: chunkSize) {
            batch[written] = fragment.offset
            posted[fragment.offset] = fragment
            written += 1
        }
        fill.submit(batch, count: written)
        return written
    }

    /// Sends `count` generator frames of `length` bytes from the other end into this one;
    /// `cpu` pins the generator, which on veth picks the receiving queue.
    func generate(
        count: Int, length: Int, firstSequence: UInt64 = 0, frame: [UInt8]? = nil,
        sequenceOffset: Int = TestFrame.sequenceOffset, cpu: Int? = nil
    ) throws {
        let programs = programs
        let lab = lab
        let other: VethLab.Side = side == .device ? .generator : .device
        let interface = lab.interface(other)
        let template = frame ?? TestFrame.make(length: length)
        try lab.run(in: other) {
            if let cpu { try pinCurrentThread(to: cpu) }
            try programs.generate(
                frame: template, count: count,
                on: NetworkInterface(named: interface), sequenceOffset: sequenceOffset,
                firstSequence: firstSequence)
        }
    }

    /// Sends frames from this socket's TX ring: each one built by `build` in a fresh fragment.
    /// Returns how many the kernel completed (their fragments freed) within the timeout.
    @discardableResult
    func transmit(count: Int, length: Int, timeoutMilliseconds: Int = 2000, build: (UnsafeMutableRawBufferPointer, Int) -> Void) throws -> Int {
        let socket = socket!
        var sent = 0
        var completed = 0
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while completed < count, ContinuousClock.now < deadline {
            if sent < count {
                let batch = socket.tx.reserve(upTo: min(64, count - sent))
                var written = 0
                while written < batch.count, let fragment = cache.alloc(size: length) {
                    build(UnsafeMutableRawBufferPointer(start: pool.base + Int(fragment.offset), count: length), sent + written)
                    batch[written] = xdp_desc(addr: fragment.offset, len: UInt32(length), options: 0)
                    inFlight[fragment.offset] = fragment
                    written += 1
                }
                socket.tx.submit(batch, count: written)
                sent += written
            }
            if socket.tx.needsWakeup || sent == count { try socket.wakeTransmit() }
            completed += reapCompletions()
        }
        return completed
    }

    /// Fragments in the TX ring or being sent, by UMEM offset.
    var inFlight: [UInt64: Fragment] = [:]
    /// Completed addresses that were not fragments sent through `transmit`.
    var foreignCompletions: [UInt64] = []

    /// Frees the fragments the completion ring gives back.
    @discardableResult
    func reapCompletions() -> Int {
        let completion = socket!.completion
        let batch = completion.peek(upTo: 256)
        var known = 0
        for index in 0..<batch.count {
            guard let fragment = inFlight.removeValue(forKey: batch[index]) else {
                // Descriptors the kernel refused come back too; tests look at these.
                foreignCompletions.append(batch[index])
                continue
            }
            cache.free(fragment)
            known += 1
        }
        completion.release(batch)
        return known
    }

    /// Takes what the RX ring holds: calls `body` with each frame's bytes, frees its fragment,
    /// and releases the descriptors. Returns the number taken.
    @discardableResult
    func receive(upTo limit: Int = .max, refill: Bool = true, _ body: (UnsafeRawBufferPointer, xdp_desc) -> Void) -> Int {
        let rx = socket!.rx
        var taken = 0
        while taken < limit {
            let batch = rx.peek(upTo: min(64, limit - taken))
            if batch.count == 0 { break }
            for index in 0..<batch.count {
                let descriptor = batch[index]
                let base = xsk_umem__extract_addr(descriptor.addr)
                let data = xsk_umem__add_offset_to_addr(descriptor.addr)
                body(UnsafeRawBufferPointer(start: pool.base + Int(data), count: Int(descriptor.len)), descriptor)
                guard let fragment = posted.removeValue(forKey: base) else {
                    Issue.record("RX descriptor at \(base) (raw \(descriptor.addr), len \(descriptor.len)) is not a fragment we posted; posted \(posted.count), e.g. \(posted.keys.sorted().prefix(3))")
                    continue
                }
                cache.free(fragment)
            }
            rx.release(batch)
            taken += batch.count
            if refill { self.refill(upTo: batch.count) }
        }
        return taken
    }

    /// Closes the socket and UMEM, frees what the kernel held, and proves nothing leaked.
    func tearDown() throws {
        programs.removeSocket(queue: queue)
        link.detach()
        reapCompletions()
        socket = nil
        umem = nil
        // The socket is closed: what was in the fill, TX and completion rings is ours again.
        for fragment in posted.values { cache.free(fragment) }
        for fragment in inFlight.values { cache.free(fragment) }
        posted.removeAll()
        inFlight.removeAll()
        cache.drain()
        try pool.verifyQuiescent()
    }
}

/// Pins the calling thread to one CPU (on veth, the sending CPU picks the receiving queue).
func pinCurrentThread(to cpu: Int) throws {
    let result = cshims_pin_current_thread(Int32(cpu))
    guard result == 0 else {
        throw XSKError.invalidArgument("pinning to CPU \(cpu) failed: errno \(result)")
    }
}
