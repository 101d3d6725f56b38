// Which frames xskd takes: the XDP program redirects a matching frame to the AF_XDP socket of
// its queue and passes the rest to the kernel. It is data in a BPF map, changed at run time.

import CShims

/// Which frames the XDP program redirects to the sockets: those that match every field set
/// (fields left nil match anything); the rest go to the kernel.
///
/// The filter is data in a BPF map, so it can change while the sockets stay bound
/// (`XDPPrograms.setFilter(_:)`). A frame that cannot be parsed as far as the set fields need
/// does not match.
public struct TrafficFilter: Hashable, Sendable, CustomStringConvertible {
    /// Ethertype after at most one VLAN tag (0x0800 IPv4, 0x86DD IPv6, 0x88B5 test frames).
    public var ethertype: UInt16?
    /// IP protocol (17 UDP, 6 TCP), for IPv4 and IPv6.
    public var ipProtocol: UInt8?
    /// UDP or TCP destination ports.
    public var destinationPorts: ClosedRange<UInt16>?

    /// Every frame.
    public static let all = TrafficFilter()

    /// A filter on the fields given; the others match anything.
    public init(ethertype: UInt16? = nil, ipProtocol: UInt8? = nil, destinationPorts: ClosedRange<UInt16>? = nil) {
        self.ethertype = ethertype
        self.ipProtocol = ipProtocol
        self.destinationPorts = destinationPorts
    }

    var mapValue: xskd_filter {
        var value = xskd_filter()
        if let ethertype {
            value.fields |= UInt32(XSKD_FILTER_ETHERTYPE)
            value.ethertype = ethertype
        }
        if let ipProtocol {
            value.fields |= UInt32(XSKD_FILTER_IP_PROTOCOL)
            value.ip_protocol = ipProtocol
        }
        if let destinationPorts {
            value.fields |= UInt32(XSKD_FILTER_DESTINATION_PORT)
            value.port_min = destinationPorts.lowerBound
            value.port_max = destinationPorts.upperBound
        }
        return value
    }

    public var description: String {
        var parts: [String] = []
        if let ethertype { parts.append("ethertype 0x\(String(ethertype, radix: 16))") }
        if let ipProtocol { parts.append("ip protocol \(ipProtocol)") }
        if let destinationPorts { parts.append("destination ports \(destinationPorts.lowerBound)-\(destinationPorts.upperBound)") }
        return parts.isEmpty ? "all frames" : parts.joined(separator: ", ")
    }
}
