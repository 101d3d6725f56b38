// The echo: every UDP/IPv4 datagram that reaches the job goes back where it came from, with
// its Ethernet, IPv4 and UDP source and destination swapped, in place. Swapping leaves both
// checksums valid: each is a sum, and a sum does not depend on the order of its terms.

import XSKJobs

struct EchoJob: PacketJob {
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        while var frame = frames.next() {
            // Ethernet (14) + IPv4 (20, more with options) + UDP (8).
            let headerLength = frame.withBytes { bytes -> Int? in
                guard bytes.byteCount >= 42,
                    bytes.unsafeLoad(fromByteOffset: 12, as: UInt16.self) == UInt16(0x0800).bigEndian,
                    bytes.unsafeLoad(fromByteOffset: 23, as: UInt8.self) == 17
                else { return nil }
                let ipLength = Int(bytes.unsafeLoad(fromByteOffset: 14, as: UInt8.self) & 0x0F) * 4
                return ipLength >= 20 && bytes.byteCount >= 14 + ipLength + 8 ? ipLength : nil
            }
            guard let ipLength = headerLength else {
                context.release(frame)
                continue
            }
            frame.withMutableBytes { bytes in
                Self.swap(&bytes, 0, 6, count: 6)  // MAC addresses
                Self.swap(&bytes, 26, 30, count: 4)  // IPv4 addresses
                Self.swap(&bytes, 14 + ipLength, 16 + ipLength, count: 2)  // UDP ports
            }
            context.transmit(frame)
        }
    }

    static func swap(_ bytes: inout MutableRawSpan, _ first: Int, _ second: Int, count: Int) {
        for index in 0..<count {
            let a = bytes.unsafeLoad(fromByteOffset: first + index, as: UInt8.self)
            let b = bytes.unsafeLoad(fromByteOffset: second + index, as: UInt8.self)
            bytes.storeBytes(of: b, toByteOffset: first + index, as: UInt8.self)
            bytes.storeBytes(of: a, toByteOffset: second + index, as: UInt8.self)
        }
    }
}
