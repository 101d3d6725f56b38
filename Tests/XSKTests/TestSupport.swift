import Logging
import Testing
import VethLab
import XSK

#if canImport(Glibc)
import Glibc
#endif

enum Root {
    static var isRoot: Bool { getuid() == 0 }
    /// AF_XDP, BPF and network namespaces need root; without it these suites skip, saying so.
    static let required = ConditionTrait.enabled(if: isRoot, "needs root: AF_XDP sockets, BPF programs and veth labs")
}

enum TestLog {
    static let logger: Logger = {
        var logger = Logger(label: "xskd.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }()
}

/// Test frames: raw Ethernet with the IEEE local experimental ethertype 0x88B5, so that no
/// stack on the way acts on them, carrying a 64-bit sequence number right after the header.
enum TestFrame {
    static let ethertype: UInt16 = 0x88B5
    static let sequenceOffset = 14

    static func make(length: Int, sequence: UInt64 = 0) -> [UInt8] {
        precondition(length >= 22)
        var frame = [UInt8](repeating: 0, count: length)
        // Destination: broadcast; source: a locally administered address.
        for index in 0..<6 { frame[index] = 0xFF }
        frame[6...11] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
        frame[12] = UInt8(ethertype >> 8)
        frame[13] = UInt8(ethertype & 0xFF)
        withUnsafeBytes(of: sequence.littleEndian) { frame.replaceSubrange(14..<22, with: $0) }
        for index in 22..<length { frame[index] = UInt8(truncatingIfNeeded: index) }
        return frame
    }

    /// The frame's sequence number; `UInt64.max` for a frame too short to carry one (so that a
    /// stray frame fails the test's expectation instead of crashing the test process).
    static func sequence(in bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard bytes.count >= sequenceOffset + 8 else { return .max }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: sequenceOffset, as: UInt64.self))
    }
}

/// `#require` for values produced by a mutating call on a non-copyable cache.
func unwrap<Value>(_ value: Value?, sourceLocation: SourceLocation = #_sourceLocation) throws -> Value {
    try #require(value, sourceLocation: sourceLocation)
}

/// Polls `condition` until it holds or `timeout` passes: for kernel state that settles shortly
/// after the call that changes it (a link released when its last descriptor closes).
func eventually(timeout: Duration = .seconds(2), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
