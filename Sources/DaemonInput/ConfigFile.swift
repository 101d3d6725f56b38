// The config file: JSON, keys named as the long options. Read by hand from the parsed object
// rather than through Decodable, so that every refusal names its key and says what the key
// takes ("'batch' must be an integer, not 1.5"), where a decoder only reports a path and,
// for numbers that do not fit, not even that. Unknown keys are refused, so that a typo never
// silently leaves a setting at its default.

import ArgumentParser
import Foundation

/// A config file as read: every key optional, under the long option names (`xdp-mode` is `xdpMode`).
public struct ConfigFile: Sendable {
    /// An empty file: nothing set.
    public init() {}

    /// `interface`: the interface to run on.
    public var interface: String?
    /// `queues`: queue ids, ranges or `all`.
    public var queues: String?
    /// `job`: the built-in job by name.
    public var job: String?
    /// `xdp-mode`: native, skb or auto.
    public var xdpMode: String?
    /// `bind-mode`: zero-copy, copy or auto.
    public var bindMode: String?
    /// `multi-buffer`: auto, on or off.
    public var multiBuffer: String?
    /// `fill-strategy`: fragment cache or descriptor slots.
    public var fillStrategy: String?
    /// `wait`: adaptive, poll or spin.
    public var wait: String?
    /// `umem-size`: in MiB.
    public var umemSize: Int?
    /// `hugepages`: how the UMEM is backed.
    public var hugepages: String?
    /// `umem-chunks`: aligned, unaligned or auto.
    public var umemChunks: String?
    /// `batch`: frames per receive.
    public var batch: Int?
    /// `ring-size`: RX and TX ring entries.
    public var ringSize: UInt32?
    /// `fill-size`: fill and completion ring entries.
    public var fillSize: UInt32?
    /// `cpus`: the CPUs the poll threads are pinned to.
    public var cpus: String?
    /// `filter`: which frames come to xskd.
    public var filter: Filter?
    /// `force`: replace an XDP program that is not xskd's.
    public var force: Bool?
    /// `follow-sequences`: drop follows stamped frames' sequences.
    public var followSequences: Bool?
    /// `duration`: seconds before the run ends by itself.
    public var duration: Double?
    /// `stats-interval`: seconds between statistics lines, 0 for none.
    public var statsInterval: Double?
    /// `log-level`: the lowest level logged.
    public var logLevel: String?
    /// `size`: generated frame length in bytes.
    public var size: Int?
    /// `rate`: generated frames (or probes) per second per queue.
    public var rate: Double?
    /// `count`: generated frames (or probes) per queue.
    public var count: Int?
    /// `destination-mac`: where generated frames go.
    public var destinationMAC: String?
    /// `source-ip`: generated UDP datagrams' IPv4 source address.
    public var sourceIP: String?
    /// `destination-ip`: generated UDP datagrams' IPv4 destination (makes generate send UDP).
    public var destinationIP: String?
    /// `source-port`: generated UDP datagrams' source port.
    public var sourcePort: Int?
    /// `destination-port`: generated UDP datagrams' destination port.
    public var destinationPort: Int?
    /// `max-latency`: microseconds a frame may wait for the adaptive wait.
    public var maxLatency: Double?
    /// `sample-residency`: one frame in N timed from arrival to transmit completion.
    public var sampleResidency: Int?
    /// `write`: the capture job's pcapng file (`-` for standard output).
    public var write: String?
    /// `tap`: a pcapng file of what any other job receives and sends.
    public var tap: String?
    /// `snap-length`: bytes of each frame captured.
    public var snapLength: Int?
    /// `sample-capture`: one frame in N captured.
    public var sampleCapture: Int?
    /// `rotate-size`: MiB per capture file before the next one.
    public var rotateSize: Int?
    /// `rotate-seconds`: seconds per capture file before the next one.
    public var rotateSeconds: Double?
    /// `rotate-files`: capture files kept.
    public var rotateFiles: Int?
    /// `capture-buffer`: MiB of staging per queue between the poll thread and the writer.
    public var captureBuffer: Int?
    /// `to`: the forward job's second interface.
    public var to: String?
    /// `metrics`: where Prometheus metrics are served.
    public var metrics: String?
    /// `busy-poll`: busy-polling settings of the sockets.
    public var busyPoll: String?
    /// `fragment-mtu`: a fixed frame limit instead of the interface's MTU.
    public var fragmentMTU: Int?

    /// The `filter` object.
    public struct Filter: Sendable {
        /// `ethertype`: only frames of this ethertype.
        public var ethertype: String?
        /// `ip-protocol`: only IPv4 frames of this protocol.
        public var ipProtocol: UInt8?
        /// `ports`: only UDP/TCP frames to these destination ports.
        public var ports: String?
        /// The keys the `filter` object takes.
        public static let keys = ["ethertype", "ip-protocol", "ports"]
        /// An empty file: nothing set.
        public init() {}
    }

    /// The keys a config file takes.
    public static let keys = [
        "interface", "queues", "job", "xdp-mode", "bind-mode", "multi-buffer", "fill-strategy", "wait", "umem-size", "hugepages", "umem-chunks",
        "batch", "ring-size", "fill-size", "cpus", "filter", "force", "follow-sequences", "duration", "stats-interval", "log-level",
        "size", "rate", "count", "destination-mac", "to", "metrics", "busy-poll", "fragment-mtu",
        "source-ip", "destination-ip", "source-port", "destination-port", "max-latency", "sample-residency",
        "write", "tap", "snap-length", "sample-capture", "rotate-size", "rotate-seconds", "rotate-files", "capture-buffer",
    ]

    /// The longest file read, in bytes.
    public static let maximumSize = 1 << 20

    /// Reads and checks the file at `path`: unknown or repeated keys and wrong types are refused.
    public static func load(path: String) throws -> ConfigFile {
        // At most one byte past the limit is read: /dev/zero or a huge file is refused, not
        // read into memory.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let handle = FileHandle(forReadingAtPath: path)
        else {
            throw ValidationError("cannot read config file \(path)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumSize + 1) ?? Data()
        } catch {
            throw ValidationError("cannot read config file \(path): \(quotedInput(error.localizedDescription, limit: 120))")
        }
        guard data.count <= maximumSize else { throw ValidationError("config file \(path) is larger than 1 MiB") }
        return try parse(data, name: "config file \(path)")
    }

    /// Parses a config file's bytes; `name` starts every error message.
    public static func parse(_ data: Data, name: String) throws -> ConfigFile {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ValidationError("\(name) is not valid JSON: \(quotedInput(error.localizedDescription, limit: 200))")
        }
        guard let members = object as? [String: Any] else {
            throw ValidationError("\(name) must hold a JSON object, such as {\"interface\": \"eth0\"}")
        }
        if let key = JSONDuplicateKeys.first(in: data) {
            throw ValidationError("\(name) names \(quotedInput(key, limit: 80)) twice: keep one")
        }
        let reader = Reader(name: name, members: members, known: keys)
        try reader.refuseUnknownKeys()
        var file = ConfigFile()
        file.interface = try reader.string("interface")
        file.queues = try reader.string("queues")
        file.job = try reader.string("job")
        file.xdpMode = try reader.string("xdp-mode")
        file.bindMode = try reader.string("bind-mode")
        file.multiBuffer = try reader.string("multi-buffer")
        file.fillStrategy = try reader.string("fill-strategy")
        file.wait = try reader.string("wait")
        file.umemSize = try reader.integer("umem-size", as: Int.self)
        file.hugepages = try reader.string("hugepages")
        file.umemChunks = try reader.string("umem-chunks")
        file.batch = try reader.integer("batch", as: Int.self)
        file.ringSize = try reader.integer("ring-size", as: UInt32.self)
        file.fillSize = try reader.integer("fill-size", as: UInt32.self)
        file.cpus = try reader.string("cpus")
        file.force = try reader.boolean("force")
        file.followSequences = try reader.boolean("follow-sequences")
        file.duration = try reader.number("duration")
        file.statsInterval = try reader.number("stats-interval")
        file.logLevel = try reader.string("log-level")
        file.size = try reader.integer("size", as: Int.self)
        file.rate = try reader.number("rate")
        file.count = try reader.integer("count", as: Int.self)
        file.destinationMAC = try reader.string("destination-mac")
        file.to = try reader.string("to")
        file.metrics = try reader.string("metrics")
        file.busyPoll = try reader.string("busy-poll")
        file.fragmentMTU = try reader.integer("fragment-mtu", as: Int.self)
        file.sourceIP = try reader.string("source-ip")
        file.destinationIP = try reader.string("destination-ip")
        file.sourcePort = try reader.integer("source-port", as: Int.self)
        file.destinationPort = try reader.integer("destination-port", as: Int.self)
        file.maxLatency = try reader.number("max-latency")
        file.sampleResidency = try reader.integer("sample-residency", as: Int.self)
        file.write = try reader.string("write")
        file.tap = try reader.string("tap")
        file.snapLength = try reader.integer("snap-length", as: Int.self)
        file.sampleCapture = try reader.integer("sample-capture", as: Int.self)
        file.rotateSize = try reader.integer("rotate-size", as: Int.self)
        file.rotateSeconds = try reader.number("rotate-seconds")
        file.rotateFiles = try reader.integer("rotate-files", as: Int.self)
        file.captureBuffer = try reader.integer("capture-buffer", as: Int.self)
        if let filter = members["filter"], !(filter is NSNull) {
            guard let filterMembers = filter as? [String: Any] else {
                throw ValidationError("\(name): 'filter' has the wrong type: it must be an object such as {\"ethertype\": \"0x0800\"}")
            }
            let filterReader = Reader(name: name, members: filterMembers, known: Filter.keys, prefix: "filter.")
            try filterReader.refuseUnknownKeys()
            var parsed = Filter()
            parsed.ethertype = try filterReader.string("ethertype")
            parsed.ipProtocol = try filterReader.integer("ip-protocol", as: UInt8.self)
            parsed.ports = try filterReader.string("ports")
            file.filter = parsed
        }
        return file
    }

    /// Typed access to one JSON object's members; null counts as absent (the default).
    struct Reader {
        let name: String
        let members: [String: Any]
        let known: [String]
        var prefix = ""

        func refuseUnknownKeys() throws {
            if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
                let what = prefix.isEmpty ? "key" : "filter key"
                throw ValidationError("\(name): unknown \(what) \(quotedInput(unknown)) (known: \(known.sorted().joined(separator: ", ")))")
            }
        }

        private func value(_ key: String) -> Any? {
            guard let value = members[key], !(value is NSNull) else { return nil }
            return value
        }

        private func wrongType(_ key: String, _ expected: String, _ value: Any) -> ValidationError {
            let shown: String
            switch value {
            case let text as String: shown = "the string " + quotedInput(text, limit: 40)
            case is [Any]: shown = "an array"
            case is [String: Any]: shown = "an object"
            case let number as NSNumber where Self.kind(number) == "c": shown = number.boolValue ? "true" : "false"
            case let number as NSNumber: shown = number.stringValue
            default: shown = "\(type(of: value))"
            }
            return ValidationError("\(name): '\(prefix)\(key)' has the wrong type: it must be \(expected), not \(shown)")
        }

        /// NSNumber's own type code: "c" for JSON true/false, "d" for a number with a fraction
        /// or exponent, an integer code otherwise.
        private static func kind(_ value: Any) -> String? {
            guard let number = value as? NSNumber else { return nil }
            return String(cString: number.objCType)
        }

        func string(_ key: String) throws -> String? {
            guard let value = value(key) else { return nil }
            guard let text = value as? String else { throw wrongType(key, "a string", value) }
            return text
        }

        func boolean(_ key: String) throws -> Bool? {
            guard let value = value(key) else { return nil }
            guard Self.kind(value) == "c", let flag = value as? Bool else { throw wrongType(key, "true or false", value) }
            return flag
        }

        func number(_ key: String) throws -> Double? {
            guard let value = value(key) else { return nil }
            guard let kind = Self.kind(value), kind != "c", let number = value as? NSNumber else {
                throw wrongType(key, "a number", value)
            }
            return number.doubleValue
        }

        func integer<Value: FixedWidthInteger>(_ key: String, as type: Value.Type) throws -> Value? {
            guard let value = value(key) else { return nil }
            let range = "an integer from \(Value.min) to \(Value.max)"
            guard let kind = Self.kind(value), kind != "c", kind != "d", kind != "f", let number = value as? NSNumber else {
                throw wrongType(key, range, value)
            }
            guard let exact = Value(exactly: number.int64Value), number.int64Value.description == number.stringValue else {
                throw ValidationError("\(name): '\(prefix)\(key)' must be \(range), not \(number.stringValue)")
            }
            return exact
        }
    }
}
