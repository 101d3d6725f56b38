// What a page pool is made of: its size, its page order, what backs it, and how the kernel
// will touch its buffers (which decides the boundaries a fragment may not cross).

import SystemCalls

extension PagePool {
    /// What a page pool is made of: its size, its page order, what backs it, and how the kernel
    /// will touch its buffers (which decides the boundaries a fragment may not cross).
    public struct Configuration: Sendable, Equatable {
        /// Region size in bytes; rounded up to whole pages of the top order (and to 2 MiB with
        /// hugepage backing).
        public var size: Int
        /// Order of the pool's largest pages, 0...10 (4 KiB << order). Caches prefer pages of
        /// this order and fall back to smaller ones under pressure. The default, 3 (32 KiB),
        /// is the kernel's `PAGE_FRAG_CACHE_MAX_ORDER` on 4 KiB-page machines.
        public var pageOrder: Int
        /// What backs the region.
        public var backing: Backing
        /// How the kernel will access the buffers; zero-copy forbids some crossings.
        public var bufferMode: BufferMode
        /// Keep a bitmap of live fragment starts to trap double frees and foreign frees.
        /// Costs one relaxed atomic per alloc and per free, and region size / 8 bytes of memory;
        /// on by default in debug builds only.
        public var tracksFragments: Bool

        /// A pool of `size` bytes; by default its largest pages are 32 KiB, hugepages back it when
        /// enough are free, the kernel copies frames, and debug builds track fragments.
        public init(
            size: Int,
            pageOrder: Int = 3,
            backing: Backing = .automatic,
            bufferMode: BufferMode = .copy,
            tracksFragments: Bool = _isDebugAssertConfiguration()
        ) {
            self.size = size
            self.pageOrder = pageOrder
            self.backing = backing
            self.bufferMode = bufferMode
            self.tracksFragments = tracksFragments
        }

        func validate() throws(PagePoolError) {
            guard (0...PagePool.maxSupportedOrder).contains(pageOrder) else {
                throw .invalidConfiguration("page order \(pageOrder) is outside 0...\(PagePool.maxSupportedOrder)")
            }
            guard size > 0 else {
                throw .invalidConfiguration("pool size \(size) must be positive")
            }
            // The page table indexes units with 32-bit links: 2^31 units of 4 KiB (8 TiB).
            guard size <= (Int(Int32.max) - (1 << PagePool.maxSupportedOrder)) << PagePool.unitShift else {
                throw .invalidConfiguration("pool size \(size) exceeds what the page table can index")
            }
        }
    }

    /// What is to back a pool's region; the raw value is the option's spelling (`auto`, `on`,
    /// `off`).
    public enum Backing: String, Sendable, Equatable, CaseIterable {
        /// 2 MiB hugepages when the system has them free, else 4 KiB pages (logged).
        case automatic = "auto"
        /// 2 MiB hugepages or fail.
        case hugePages = "on"
        /// 4 KiB pages.
        case smallPages = "off"
    }

    /// What backs a pool's region once it is mapped.
    public enum ResolvedBacking: Sendable, Equatable, CustomStringConvertible {
        /// 2 MiB hugepages.
        case hugePages
        /// 4 KiB pages.
        case smallPages

        /// Size of one backing page: the unit of guaranteed physical contiguity.
        public var pageSize: Int {
            switch self {
            case .hugePages: 2 << 20
            case .smallPages: 4 << 10
            }
        }

        /// The backing in words, for logs ("2 MiB hugepages", "4 KiB pages").
        public var description: String {
            switch self {
            case .hugePages: "2 MiB hugepages"
            case .smallPages: "4 KiB pages"
            }
        }
    }

    /// How the kernel will access a pool's buffers, which decides whether a fragment may cross a
    /// backing page.
    public enum BufferMode: String, Sendable, Equatable, CaseIterable {
        /// The kernel copies frames in and out through virtual addresses: any buffer is fine.
        case copy
        /// The NIC DMAs into the buffers: a buffer must not cross a backing-page boundary,
        /// since consecutive backing pages need not be physically contiguous.
        case zeroCopy = "zero-copy"
    }
}

/// Why a page pool could not be made.
public enum PagePoolError: Error, Sendable, CustomStringConvertible {
    /// A configuration value is out of range; the message says which.
    case invalidConfiguration(String)
    /// The region could not be mapped.
    case mapping(SystemCallError)

    /// What went wrong and, where there is one, what to do about it: one line for a log.
    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid page pool configuration: \(reason)"
        case .mapping(let error): "cannot map the page pool: \(error)"
        }
    }
}
