// A UMEM: the page pool's region registered with the kernel as AF_XDP packet memory. Every
// buffer address in every ring is an offset into it, which is exactly a fragment's offset in
// the pool. The UMEM keeps its pool alive, and every socket keeps its UMEM alive, so memory
// the kernel may still write into is never unmapped under it.
//
// The kernel registers a UMEM on one AF_XDP socket; that socket also carries the UMEM's own
// fill and completion rings and becomes the first `XSKSocket` bound with this UMEM. It stays
// bound to its queue until the UMEM is closed: the kernel has no unbind.

import CShims
import Logging
import PageFrag
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A page pool's region registered with the kernel as AF_XDP packet memory (a UMEM).
///
/// Every buffer address in every ring is an offset into it, which is exactly a fragment's offset
/// in the pool. The UMEM keeps its pool alive, and every socket keeps its UMEM alive, so memory
/// the kernel may still write into is never unmapped under it. The kernel registers a UMEM on one
/// AF_XDP socket, which also carries the UMEM's own fill and completion rings and becomes the
/// first ``XSKSocket`` bound with it.
public final class Umem: @unchecked Sendable {
    // Unchecked: mutable bookkeeping lives behind `sockets`; the rest is immutable after init.

    /// How the kernel is to see the UMEM: its ring sizes, chunk size, headroom, and whether buffer
    /// addresses may be unaligned.
    public struct Configuration: Sendable, Equatable {
        /// Fill ring size (a power of two).
        public var fillSize: UInt32 = 4096
        /// Completion ring size (a power of two).
        public var completionSize: UInt32 = 4096
        /// The chunk size the kernel assumes for every buffer: 2048...4096. In unaligned mode
        /// the kernel takes each fill address as the start of such a chunk and accepts frames
        /// up to `chunkSize - 256 - headroom`.
        public var chunkSize: UInt32 = 2048
        /// Bytes the kernel leaves free before each received frame, for the application.
        public var headroom: UInt32 = 0
        /// Unaligned-chunk mode: fill and TX addresses may be any offset (page fragments).
        /// Off: every address must be a multiple of `chunkSize`, which must be a power of two.
        public var unalignedChunks = true

        /// The defaults: fill and completion rings of 4096 entries, 2048-byte chunks, no headroom,
        /// unaligned chunks.
        public init() {}
    }

    /// The pool whose region this is; the UMEM keeps it alive.
    public let pool: PagePool
    /// What the UMEM was registered with.
    public let configuration: Configuration
    /// The socket the UMEM is registered on.
    public let descriptor: Int32
    let fillStorage: UnsafeMutablePointer<xsk_ring_prod>
    let completionStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let fillMapping: cshims_ring_mapping
    private let completionMapping: cshims_ring_mapping
    let sockets = LockedValue(SocketBook())
    private let logger: Logger

    /// Which queues have sockets on this UMEM, to decide how the next one binds.
    struct SocketBook {
        var ownSocketTaken = false
        var ownSocketQueue: QueueKey?
        /// Whether the UMEM's own socket bound multi-buffer (`XDP_USE_SG`): the sockets that
        /// share the UMEM inherit it (the kernel refuses the flag on them).
        var multiBuffer = false
        var socketsPerQueue: [QueueKey: Int] = [:]
        var closed = false
    }

    struct QueueKey: Hashable {
        var interfaceIndex: UInt32
        var queue: UInt32
    }

    /// Registers `pool`'s region with the kernel.
    public init(pool: PagePool, configuration: Configuration = .init(), logger: Logger) throws(XSKError) {
        guard (2048...4096).contains(configuration.chunkSize),
            configuration.unalignedChunks || configuration.chunkSize.nonzeroBitCount == 1
        else {
            throw .invalidArgument(
                "chunk size \(configuration.chunkSize) must be 2048...4096 (a power of two unless unaligned)")
        }
        guard configuration.headroom + 256 < configuration.chunkSize else {
            throw .invalidArgument("headroom \(configuration.headroom) leaves no room in a \(configuration.chunkSize)-byte chunk")
        }
        for (name, size) in [("fill", configuration.fillSize), ("completion", configuration.completionSize)]
        where size == 0 || size.nonzeroBitCount != 1 {
            throw .invalidArgument("\(name) ring size \(size) must be a power of two")
        }
        let descriptor = try wrap { () throws(SystemCallError) in
            try SystemCall.checked("socket(AF_XDP)", context: "UMEM",
                hint: { $0 == EAFNOSUPPORT ? "the kernel has no AF_XDP (CONFIG_XDP_SOCKETS)" : nil }) {
                socket(AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
        }
        let registered = cshims_xsk_register_umem(
            descriptor, pool.base, UInt64(pool.size), configuration.chunkSize, configuration.headroom,
            configuration.unalignedChunks ? UInt32(XDP_UMEM_UNALIGNED_CHUNK_FLAG) : 0)
        guard registered == 0 else {
            close(descriptor)
            throw .system(SystemCallError(
                call: "setsockopt(XDP_UMEM_REG)", errno: -registered, context: "UMEM of \(pool.size) bytes",
                hint: Self.registrationHint(-registered)))
        }
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        completion.initialize(to: xsk_ring_cons())
        var fillMapping = cshims_ring_mapping()
        var completionMapping = cshims_ring_mapping()
        let created = cshims_xsk_create_fill_completion(
            descriptor, configuration.fillSize, configuration.completionSize, fill, completion,
            &fillMapping, &completionMapping)
        guard created == 0 else {
            fill.deallocate()
            completion.deallocate()
            close(descriptor)
            throw .system(SystemCallError(
                call: "XDP_UMEM_FILL_RING/XDP_UMEM_COMPLETION_RING", errno: -created, context: "UMEM"))
        }
        self.pool = pool
        self.configuration = configuration
        self.descriptor = descriptor
        self.logger = logger
        fillStorage = fill
        completionStorage = completion
        self.fillMapping = fillMapping
        self.completionMapping = completionMapping
        logger.info(
            "UMEM registered",
            metadata: [
                "bytes": "\(pool.size)", "backing": "\(pool.backing)", "chunk": "\(configuration.chunkSize)",
                "headroom": "\(configuration.headroom)", "unaligned": "\(configuration.unalignedChunks)",
            ])
    }

    /// Whether the UMEM's socket is still open (it can take new sockets).
    public var isOpen: Bool { sockets.withLock { !$0.closed } }

    /// Closes the UMEM's own socket: its queue is released and, once no other socket shares
    /// the UMEM, so is the kernel's pin on the memory. Idempotent.
    func closeOwnSocket() {
        let first = sockets.withLock { book -> Bool in
            defer { book.closed = true }
            return !book.closed
        }
        guard first else { return }
        munmap(fillMapping.base, fillMapping.length)
        munmap(completionMapping.base, completionMapping.length)
        close(descriptor)
        logger.info("UMEM closed")
    }

    deinit {
        closeOwnSocket()
        fillStorage.deallocate()
        completionStorage.deallocate()
    }


    static func registrationHint(_ error: Int32) -> String? {
        switch error {
        case ENOBUFS, ENOMEM, EPERM:
            "registering packet memory pins it: it needs CAP_IPC_LOCK (root has it) or a larger RLIMIT_MEMLOCK"
        case EINVAL:
            "the kernel rejected the UMEM layout (chunk size, headroom, or a region not page-aligned)"
        default:
            nil
        }
    }
}
