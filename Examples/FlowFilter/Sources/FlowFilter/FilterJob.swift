// The filter: every frame received on one port leaves by the other (an L2 forwarder, no
// copy), except what a rule drops: here, UDP/IPv4 to one destination port. Every IPv4 frame
// is counted in its flow; everything else (ARP, IPv6) passes uncounted.

import XSKJobs

struct FilterJob: PacketJob {
    let dropPort: UInt16
    var flows = FlowTable(capacity: 4096)
    let report: @Sendable ([FlowTable.Entry], UInt64) -> Void

    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        let other = 1 - frames.port
        while let frame = frames.next() {
            let key = frame.withBytes { bytes -> FlowKey? in
                guard bytes.byteCount >= 34, bytes.unsafeLoad(fromByteOffset: 12, as: UInt16.self) == UInt16(0x0800).bigEndian else {
                    return nil
                }
                let ipLength = Int(bytes.unsafeLoad(fromByteOffset: 14, as: UInt8.self) & 0x0F) * 4
                let ipProtocol = bytes.unsafeLoad(fromByteOffset: 23, as: UInt8.self)
                var key = FlowKey(
                    source: UInt32(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 26, as: UInt32.self)),
                    destination: UInt32(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 30, as: UInt32.self)),
                    sourcePort: 0, destinationPort: 0, ipProtocol: ipProtocol)
                let ports = 14 + ipLength
                if ipProtocol == 17 || ipProtocol == 6, bytes.byteCount >= ports + 4 {
                    key.sourcePort = UInt16(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: ports, as: UInt16.self))
                    key.destinationPort = UInt16(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: ports + 2, as: UInt16.self))
                }
                return key
            }
            guard let key else {
                context.forward(frame, to: other)
                continue
            }
            let drop = key.ipProtocol == 17 && key.destinationPort == dropPort
            flows.count(key, bytes: frame.length, dropped: drop)
            if drop {
                context.release(frame)
            } else {
                context.forward(frame, to: other)
            }
        }
    }

    mutating func stop(context: inout JobContext) {
        report(flows.entries, flows.untracked)
    }
}
