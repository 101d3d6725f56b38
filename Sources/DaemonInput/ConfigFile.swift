// The config file: JSON, keys named as the long options. Read by hand from the parsed object
// rather than through Decodable, so that every refusal names its key and says what the key
// takes ("'batch' must be an integer, not 1.5"), where a decoder only reports a path and,
// for numbers that do not fit, not even that. Unknown keys are refused, so that a typo never
// silently leaves a setting at its default.

import ArgumentParser
import Foundation

public struct ConfigFile: Sendable {
    public init() {}

    public var interface: String?
    public var queues: String?
    public var job: String?
    public var xdpMode: String?
    public var bindMode: String?
    public var fillStrategy: String?
    public var wait: String?
    public var umemSize: Int?
    public var hugepages: String?
    public var batch: Int?
    public var ringSize: UInt32?
    public var fillSize: UInt32?
    public var cpus: String?
    public var filter: Filter?
    public var force: Bool?
    public var followSequences: Bool?
    public var duration: Double?
    public var statsInterval: Double?
    public var logLevel: String?
    public var size: Int?
    public var rate: Double?
    public var count: Int?
    public var destinationMAC: String?
    public var to: String?
    public var metrics: String?
    public var busyPoll: String?
    public var fragmentMTU: Int?

    public struct Filter: Sendable {
        public var ethertype: String?
        public var ipProtocol: UInt8?
        public var ports: String?
        public static let keys = ["ethertype", "ip-protocol", "ports"]
        public init() {}
    }

    public static let keys = [
        "interface", "queues", "job", "xdp-mode", "bind-mode", "fill-strategy", "wait", "umem-size", "hugepages",
        "batch", "ring-size", "fill-size", "cpus", "filter", "force", "follow-sequences", "duration", "stats-interval", "log-level",
        "size", "rate", "count", "destination-mac", "to", "metrics", "busy-poll", "fragment-mtu",
    ]

    public static let maximumSize = 1 << 20

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
        file.fillStrategy = try reader.string("fill-strategy")
        file.wait = try reader.string("wait")
        file.umemSize = try reader.integer("umem-size", as: Int.self)
        file.hugepages = try reader.string("hugepages")
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
