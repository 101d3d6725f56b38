// The values of xskd's options, parsed from text as they come from the command line or the
// config file: one parser per kind of value, each refusing with one line that says what is
// wrong and what is accepted. Kept apart from the daemon so that tests and fuzzers can drive
// them directly.

import ArgumentParser
import Foundation
import XSK

/// Which queues to run on: all the interface has, or a list.
public enum QueueSelection: Sendable, Equatable {
    /// Every RX queue the interface has.
    case all
    case list([UInt32])

    /// The queue ids on an interface with `available` RX queues (nil: unknown).
    public func resolve(available: Int?, interface: String) throws -> [UInt32] {
        switch self {
        case .all:
            guard let available else {
                throw ValidationError("cannot tell how many queues \(interface) has: list them with --queues")
            }
            return (0..<UInt32(available)).map { $0 }
        case .list(let values):
            if let available, let bad = values.first(where: { $0 >= available }) {
                throw ValidationError("queue \(bad) does not exist on \(interface): it has \(available) (0...\(available - 1))")
            }
            return values
        }
    }
}

/// Parsers of option values, shared by the command line and the config file.
public enum OptionValues {
    /// `--queues`: ids, ranges or `all`.
    public static func queues(_ text: String) throws -> QueueSelection {
        if text == "all" { return .all }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, Set(values).count == values.count else {
            throw ValidationError("queues must be 'all' or a list of distinct queue numbers such as 0,1; not \(quotedInput(text))")
        }
        return .list(values)
    }

    /// `--busy-poll`: `off` or the busy-polling settings.
    public static func busyPoll(_ text: String) throws -> XSKSocket.BusyPoll {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int32($0) }
        guard (1...2).contains(parts.count), let microseconds = parts[0], (1...1_000_000).contains(microseconds),
            parts.count == 1 || (parts[1].map { (1...65535).contains($0) } ?? false)
        else {
            throw ValidationError("busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET such as 20:64, not \(quotedInput(text))")
        }
        return XSKSocket.BusyPoll(microseconds: microseconds, budget: parts.count == 2 ? parts[1]! : 64)
    }

    /// `--cpus`: CPU ids and ranges.
    public static func cpus(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0) }
        guard values.count == parts.count, values.allSatisfy({ $0 >= 0 && $0 < 4096 }) else {
            throw ValidationError("cpus must be a comma-separated list of CPU numbers, not \(quotedInput(text))")
        }
        return values
    }

    /// The traffic filter from its three parts (each optional).
    public static func filter(ethertype: String?, ipProtocol: UInt8?, ports: String?) throws -> TrafficFilter {
        var filter = TrafficFilter()
        if let text = ethertype {
            let digits = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
            guard let value = UInt16(digits, radix: 16) else {
                throw ValidationError("filter ethertype must be a 16-bit hexadecimal number such as 0x0800, not \(quotedInput(text))")
            }
            filter.ethertype = value
        }
        filter.ipProtocol = ipProtocol
        if let text = ports {
            let bounds = text.split(separator: "-", omittingEmptySubsequences: false).map { UInt16($0) }
            guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil, low <= high else {
                throw ValidationError("filter ports must be a port or a range such as 9000-9100, not \(quotedInput(text))")
            }
            filter.destinationPorts = low...high
        }
        return filter
    }

    /// A MAC address written as six hexadecimal bytes separated by colons.
    public static func macAddress(_ text: String, key: String) throws -> [UInt8] {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { $0.count <= 2 ? UInt8($0, radix: 16) : nil }
        guard bytes.count == 6, parts.count == 6 else {
            throw ValidationError("\(key) must be a MAC address such as 02:00:00:00:00:01, not \(quotedInput(text))")
        }
        return bytes
    }

    /// Where to serve metrics: the addresses to listen on (IPv4 or IPv6, as text) and the port.
    public struct MetricsAddress: Sendable, Equatable {
        /// Addresses to listen on, each IPv4 (`127.0.0.1`) or IPv6 (`::1`, no brackets).
        public var addresses: [String]
        /// The TCP port.
        public var port: UInt16

        /// Addresses and a port, as parsed.
        public init(addresses: [String], port: UInt16) {
            self.addresses = addresses
            self.port = port
        }

        /// The two loopbacks a bare PORT asks for: one of them may be unavailable (IPv6 off).
        public static let loopbacks = ["127.0.0.1", "::1"]

        /// Whether these are the two loopbacks of a bare PORT.
        public var isLoopbackPair: Bool { addresses == Self.loopbacks }

        /// Whether `address` is an IPv6 address (it has a colon; parsing checked the rest).
        public static func isIPv6(_ address: String) -> Bool { address.contains(":") }
    }

    /// Where to serve metrics: a bare PORT listens on both loopbacks (127.0.0.1 and ::1),
    /// IPv4-ADDRESS:PORT on that IPv4 address, [IPv6-ADDRESS]:PORT on that IPv6 address (`[::]`
    /// takes both families where net.ipv6.bindv6only is 0, Linux's default); nil if none of these.
    public static func metricsAddress(_ text: String) -> MetricsAddress? {
        func port(_ text: Substring) -> UInt16? { UInt16(text).flatMap { $0 > 0 ? $0 : nil } }
        if let port = port(Substring(text)) { return MetricsAddress(addresses: MetricsAddress.loopbacks, port: port) }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:"),
                let port = port(text[text.index(close, offsetBy: 2)...])
            else { return nil }
            let address = String(text[text.index(after: text.startIndex)..<close])
            var parsed = in6_addr()
            guard inet_pton(AF_INET6, address, &parsed) == 1 else { return nil }
            return MetricsAddress(addresses: [address], port: port)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = port(parts[1]) else { return nil }
        var parsed = in_addr()
        guard inet_pton(AF_INET, String(parts[0]), &parsed) == 1 else { return nil }
        return MetricsAddress(addresses: [String(parts[0])], port: port)
    }
}
