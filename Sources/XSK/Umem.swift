// A UMEM: the page pool's region registered with the kernel as AF_XDP packet memory. Every
// buffer address in every ring is an offset into it, which is exactly a fragment's offset in
// the pool. The UMEM keeps its pool alive, and every socket keeps its UMEM alive, so memory
// the kernel may still write into is never unmapped under it.

import CShims
import Logging
import PageFrag
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

public final class Umem: @unchecked Sendable {
    // Unchecked: libxdp's umem is only touched at socket creation and deinit.

    public struct Configuration: Sendable, Equatable {
        /// Fill and completion ring sizes (powers of two).
        public var fillSize: UInt32 = 4096
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

        public init() {}
    }

    public let pool: PagePool
    public let configuration: Configuration
    let handle: OpaquePointer
    // libxdp keeps these addresses: they live on the heap, and are freed only after delete.
    let fillStorage: UnsafeMutablePointer<xsk_ring_prod>
    let completionStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let logger: Logger

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
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        fillStorage = .allocate(capacity: 1)
        fillStorage.initialize(to: xsk_ring_prod())
        completionStorage = .allocate(capacity: 1)
        completionStorage.initialize(to: xsk_ring_cons())

        var umemConfiguration = xsk_umem_config(
            fill_size: configuration.fillSize, comp_size: configuration.completionSize,
            frame_size: configuration.chunkSize, frame_headroom: configuration.headroom,
            flags: configuration.unalignedChunks ? UInt32(XDP_UMEM_UNALIGNED_CHUNK_FLAG) : 0)
        var created: OpaquePointer?
        let result = xsk_umem__create(
            &created, pool.base, UInt64(pool.size), fillStorage, completionStorage, &umemConfiguration)
        guard result == 0, let created else {
            fillStorage.deallocate()
            completionStorage.deallocate()
            let error = -result
            throw .system(SystemCallError(
                call: "xsk_umem__create (XDP_UMEM_REG)", errno: error, context: "UMEM of \(pool.size) bytes",
                hint: Self.registrationHint(error)))
        }
        handle = created
        logger.info(
            "UMEM registered",
            metadata: [
                "bytes": "\(pool.size)", "backing": "\(pool.backing)", "chunk": "\(configuration.chunkSize)",
                "headroom": "\(configuration.headroom)", "unaligned": "\(configuration.unalignedChunks)",
            ])
    }

    deinit {
        let result = xsk_umem__delete(handle)
        if result != 0 {
            logger.error("xsk_umem__delete failed: the UMEM is still in use", metadata: ["errno": "\(-result)"])
        }
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
