import CShims
import PageFrag
import Testing
import VethLab
@testable import XSK

/// One AF_XDP socket on the lab's device end, with its pool, UMEM and the fragments it has
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

    init(
        lab: VethLab, mode: XDPAttachMode = .native, bindMode: XSKSocket.BindMode = .automatic,
        umemConfiguration: Umem.Configuration = .init(), rxSize: UInt32 = 2048, fillCount: Int = 1024,
        pool: PagePool? = nil
    ) throws {
        self.lab = lab
        let programs = try XDPPrograms(logger: TestLog.logger)
        self.programs = programs
        link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: lab.deviceInterface), mode: mode)
        }
        let pool = try pool ?? PagePool(
            configuration: .init(size: 16 << 20, pageOrder: 3, backing: .smallPages, tracksFragments: true),
            logger: TestLog.logger)
        self.pool = pool
        chunkSize = Int(umemConfiguration.chunkSize)
        cache = PageFragCache(pool: pool)
        let (umem, socket) = try lab.run(in: .device) {
            let umem = try Umem(pool: pool, configuration: umemConfiguration, logger: TestLog.logger)
            var configuration = XSKSocket.Configuration(interface: lab.deviceInterface, queue: 0)
            configuration.bindMode = bindMode
            configuration.rxSize = rxSize
            return (umem, try XSKSocket(umem: umem, configuration: configuration, logger: TestLog.logger))
        }
        self.umem = umem
        self.socket = socket
        try programs.insertSocket(socket.descriptor, queue: 0)
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

    /// Sends `count` generator frames of `length` bytes into the device end.
    func generate(count: Int, length: Int, firstSequence: UInt64 = 0) throws {
        let programs = programs
        let lab = lab
        try lab.run(in: .generator) {
            try programs.generate(
                frame: TestFrame.make(length: length), count: count,
                on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset,
                firstSequence: firstSequence)
        }
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
                    Issue.record("RX descriptor at \(base) is not a fragment we posted")
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
        programs.removeSocket(queue: 0)
        link.detach()
        socket = nil
        umem = nil
        // The socket is closed: what was in the fill ring is ours again.
        for fragment in posted.values { cache.free(fragment) }
        posted.removeAll()
        cache.drain()
        try pool.verifyQuiescent()
    }
}
