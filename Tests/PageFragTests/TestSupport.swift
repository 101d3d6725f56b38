import Logging
import PageFrag
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum TestSupport {
    static var logger: Logger { TestLog.logger }

    static var isRoot: Bool { Root.isRoot }

    /// A small pool on 4 KiB pages (tests must not depend on the machine's hugepages).
    static func pool(
        size: Int = 1 << 20,
        pageOrder: Int = 3,
        bufferMode: PagePool.BufferMode = .copy,
        tracksFragments: Bool = true
    ) throws -> PagePool {
        try PagePool(
            configuration: .init(
                size: size, pageOrder: pageOrder, backing: .smallPages, bufferMode: bufferMode,
                tracksFragments: tracksFragments),
            logger: logger)
    }
}

extension PagePool {
    /// Fills a fragment's bytes with `value`, so that overlapping fragments show up as damage.
    func fill(_ fragment: Fragment, with value: UInt8) {
        (base + Int(fragment.offset)).initializeMemory(as: UInt8.self, repeating: value, count: Int(fragment.length))
    }

    /// Whether every byte of the fragment still holds `value`.
    func holds(_ fragment: Fragment, value: UInt8) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: base + Int(fragment.offset), count: Int(fragment.length))
        return bytes.allSatisfy { $0 == value }
    }
}
