// What a run uses, resolved from the command line over the config file over the defaults, and
// checked once, with one-line errors that say what is wrong and what is accepted.

import ArgumentParser
import DaemonInput
import Foundation
import Logging
import PageFrag
import XSK
import XSKJobs

struct Settings: Sendable {
    var interface: String
    var queues: QueueSelection
    var job: JobKind
    var xdpMode: XDPAttachMode
    var bindMode: XSKSocket.BindMode
    var multiBuffer: XSKSocket.MultiBuffer
    var fillStrategy: XSKQueue.FillStrategy
    var wait: WaitMode
    /// In MiB; nil when not given: the plan sizes it for the queues (`RunPlan.umemNeeded`).
    var umemSize: Int?
    var hugepages: PagePool.Backing
    var umemChunks: UmemChunks
    var batch: Int
    var ringSize: UInt32
    var fillSize: UInt32
    var cpus: [Int]?
    var busyPoll: XSKSocket.BusyPoll?
    var fragmentMTU: Int?
    var filter: TrafficFilter
    var generate: GenerateOptions
    var forwardTo: String?
    var metrics: OptionValues.MetricsAddress?
    var force: Bool
    var followSequences: Bool
    var maxLatency: Duration?
    var residencySampling: Int
    var capture: CaptureSettings?
    var duration: Double?
    var statsInterval: Double
    var logLevel: Logger.Level

    static func resolve(command: RunOptions, file: ConfigFile?, requireInterface: Bool) throws -> Settings {
        let interface = command.interface ?? file?.interface
        if requireInterface, interface == nil {
            throw ValidationError("give the interface: --interface NAME (or \"interface\" in the config file)")
        }
        let job = try command.job ?? file?.job.map { try parse($0, "job", JobKind.init) } ?? .drop
        // A capture's RX and fill rings are the only buffer between the wire and its poll
        // thread: at 2048 and 4096 a paced 800 kfps of 64-byte frames overflowed the RX ring
        // (1163 of 1.6 M frames, the adaptive wait's naps and the writer's turns on the CPU),
        // at 8192 and 8192 none of 3.2 M at 1.6 Mfps did. The UMEM's default grows with them.
        let ringDefault: UInt32 = job == .capture ? 8192 : 2048
        let fillDefault: UInt32 = job == .capture ? 8192 : 4096
        let settings = Settings(
            interface: interface ?? "",
            queues: try OptionValues.queues(command.queues ?? file?.queues ?? "0"),
            job: job,
            xdpMode: try command.xdpMode ?? file?.xdpMode.map { try parse($0, "xdp-mode", XDPAttachMode.init) } ?? .automatic,
            bindMode: try command.bindMode ?? file?.bindMode.map { try parse($0, "bind-mode", XSKSocket.BindMode.init) } ?? .automatic,
            multiBuffer: try command.multiBuffer
                ?? file?.multiBuffer.map { try parse($0, "multi-buffer", XSKSocket.MultiBuffer.init) } ?? .automatic,
            fillStrategy: try command.fillStrategy
                ?? file?.fillStrategy.map { try parse($0, "fill-strategy", XSKQueue.FillStrategy.init) } ?? .fragmentCache,
            // The latency job times its probes' return: by default its thread sleeps in poll()
            // and wakes at a reply, where the adaptive wait would nap through it while replies
            // stream (a 1000/s run measured ~1 ms of nap in every round trip).
            wait: try command.wait ?? file?.wait.map { try parse($0, "wait", WaitMode.init) } ?? (job == .latency ? .poll : .adaptive),
            umemSize: command.umemSize ?? file?.umemSize,
            hugepages: try command.hugepages ?? file?.hugepages.map { try parse($0, "hugepages", PagePool.Backing.init) } ?? .automatic,
            umemChunks: try command.umemChunks ?? file?.umemChunks.map { try parse($0, "umem-chunks", UmemChunks.init) } ?? .automatic,
            batch: command.batch ?? file?.batch ?? 64,
            ringSize: command.ringSize ?? file?.ringSize ?? ringDefault,
            fillSize: command.fillSize ?? file?.fillSize ?? fillDefault,
            cpus: try (command.cpus ?? file?.cpus).map(OptionValues.cpus),
            busyPoll: try (command.busyPoll ?? file?.busyPoll).map(OptionValues.busyPoll),
            fragmentMTU: command.fragmentMTU ?? file?.fragmentMTU,
            filter: try OptionValues.filter(
                ethertype: command.filterEthertype ?? file?.filter?.ethertype,
                ipProtocol: command.filterIPProtocol ?? file?.filter?.ipProtocol,
                ports: command.filterPorts ?? file?.filter?.ports),
            generate: try generateOptions(
                size: command.size ?? file?.size, rate: command.rate ?? file?.rate, count: command.count ?? file?.count,
                destination: command.destinationMAC ?? file?.destinationMAC,
                udp: udpEndpoints(
                    source: command.sourceIP ?? file?.sourceIP, destination: command.destinationIP ?? file?.destinationIP,
                    sourcePort: command.sourcePort ?? file?.sourcePort, destinationPort: command.destinationPort ?? file?.destinationPort)),
            forwardTo: command.to ?? file?.to,
            metrics: try (command.metrics ?? file?.metrics).map { text in
                guard let parsed = OptionValues.metricsAddress(text) else {
                    throw ValidationError("metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT such as 127.0.0.1:19741, not \(quotedInput(text))")
                }
                return parsed
            },
            force: command.force || (file?.force ?? false),
            followSequences: command.followSequences || (file?.followSequences ?? false),
            maxLatency: try (command.maxLatency ?? file?.maxLatency).map { microseconds in
                guard microseconds >= 1, microseconds <= 1_000_000 else {
                    throw ValidationError("max-latency must be 1...1000000 microseconds, not \(microseconds)")
                }
                return .nanoseconds(Int64(microseconds * 1000))
            },
            residencySampling: try residencySampling(command.sampleResidency ?? file?.sampleResidency, job: job),
            capture: try captureSettings(command: command, file: file),
            duration: command.duration ?? file?.duration,
            statsInterval: command.statsInterval ?? file?.statsInterval ?? 1,
            logLevel: try command.logLevel ?? file?.logLevel.map { try parse($0, "log-level", accepted: Logger.Level.allCases.map(\.rawValue)) { Logger.Level(rawValue: $0) } } ?? .info)
        try settings.check()
        return settings
    }

    /// One frame in N timed for residency: 64 for the jobs that send what they receive, which
    /// are the only ones it applies to.
    static func residencySampling(_ given: Int?, job: JobKind) throws -> Int {
        let sends = job == .reflect || job == .forward
        guard let given else { return sends ? 64 : 0 }
        guard (0...1_000_000).contains(given) else { throw ValidationError("sample-residency must be 0...1000000 frames, not \(given)") }
        if given > 0, !sends {
            throw ValidationError("sample-residency applies to reflect and forward (the jobs that send what they receive), not \(job)")
        }
        return given
    }

    /// The capture: `write` for the capture job, `tap` for any other; the other keys need one.
    static func captureSettings(command: RunOptions, file: ConfigFile?) throws -> CaptureSettings? {
        let job = command.job ?? file?.job.flatMap { JobKind(rawValue: $0) } ?? .drop
        let write = command.write ?? file?.write
        let tap = command.tap ?? file?.tap
        if job == .capture {
            guard tap == nil else { throw ValidationError("the capture job writes its file with --write FILE; --tap is for the other jobs") }
            guard write != nil else { throw ValidationError("the capture job needs its file: --write FILE (or --write - for standard output)") }
        } else if write != nil {
            throw ValidationError("--write is the capture job's file; to record what the \(job) job receives and sends, use --tap FILE")
        }
        let snapLength = command.snapLength ?? file?.snapLength
        let sampling = command.sampleCapture ?? file?.sampleCapture
        let rotateSize = command.rotateSize ?? file?.rotateSize
        let rotateSeconds = command.rotateSeconds ?? file?.rotateSeconds
        let rotateFiles = command.rotateFiles ?? file?.rotateFiles
        let buffer = command.captureBuffer ?? file?.captureBuffer
        guard let path = write ?? tap else {
            if snapLength != nil || sampling != nil || rotateSize != nil || rotateSeconds != nil || rotateFiles != nil || buffer != nil {
                throw ValidationError("snap-length, sample-capture, rotate-size, rotate-seconds, rotate-files and capture-buffer describe a capture: give --write FILE (capture job) or --tap FILE")
            }
            return nil
        }
        guard !path.isEmpty else { throw ValidationError("the capture file's name is empty: name a file, or - for standard output") }
        var settings = CaptureSettings(path: path)
        settings.outbound = job != .capture
        if let snapLength {
            guard (1...65535).contains(snapLength) else { throw ValidationError("snap-length must be 1...65535 bytes, not \(snapLength)") }
            settings.snapLength = snapLength
        }
        if let sampling {
            guard (1...1_000_000).contains(sampling) else { throw ValidationError("sample-capture must be 1...1000000 frames, not \(sampling)") }
            settings.sampling = sampling
        }
        if let rotateSize {
            guard (1...1_048_576).contains(rotateSize) else { throw ValidationError("rotate-size must be 1...1048576 MiB, not \(rotateSize)") }
            settings.rotateBytes = rotateSize << 20
        }
        if let rotateSeconds {
            guard rotateSeconds >= 1, rotateSeconds <= 31_536_000 else {
                throw ValidationError("rotate-seconds must be 1...31536000 seconds, not \(rotateSeconds)")
            }
            settings.rotateInterval = .milliseconds(Int64(rotateSeconds * 1000))
        }
        if let rotateFiles {
            guard settings.rotates else { throw ValidationError("rotate-files bounds rotated files: give rotate-size or rotate-seconds too") }
            guard (1...1_000_000).contains(rotateFiles) else { throw ValidationError("rotate-files must be 1...1000000, not \(rotateFiles)") }
            settings.maximumFiles = rotateFiles
        }
        if settings.toStandardOutput, settings.rotates {
            throw ValidationError("a capture to standard output cannot rotate: name a file to rotate")
        }
        if let buffer {
            guard (1...4096).contains(buffer) else { throw ValidationError("capture-buffer must be 1...4096 MiB, not \(buffer)") }
            settings.stagingBytes = buffer << 20
        }
        return settings
    }

    /// UDP endpoints when a destination address is given; the other keys need it.
    static func udpEndpoints(source: String?, destination: String?, sourcePort: Int?, destinationPort: Int?) throws -> GenerateOptions.UDPEndpoints? {
        guard let destination else {
            if source != nil || sourcePort != nil || destinationPort != nil {
                throw ValidationError("source-ip, source-port and destination-port describe UDP datagrams: give destination-ip too")
            }
            return nil
        }
        func address(_ text: String, _ key: String) throws -> [UInt8] {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let bytes = parts.compactMap { $0.count <= 3 && $0.allSatisfy(\.isNumber) ? UInt8($0) : nil }
            guard parts.count == 4, bytes.count == 4 else {
                throw ValidationError("\(key) must be an IPv4 address such as 198.18.0.2, not \(quotedInput(text))")
            }
            return bytes
        }
        func port(_ value: Int?, _ key: String) throws -> UInt16 {
            guard let value else { return 9 }
            guard (1...65535).contains(value) else { throw ValidationError("\(key) must be 1...65535, not \(value)") }
            return UInt16(value)
        }
        return GenerateOptions.UDPEndpoints(
            source: try source.map { try address($0, "source-ip") } ?? [198, 18, 0, 1], destination: try address(destination, "destination-ip"),
            sourcePort: try port(sourcePort, "source-port"), destinationPort: try port(destinationPort, "destination-port"))
    }

    func check() throws {
        if maxLatency != nil, wait != .adaptive {
            throw ValidationError("max-latency bounds the adaptive wait (--wait adaptive); with --wait \(wait.rawValue) it means nothing")
        }
        if generate.udp != nil, job != .generate {
            throw ValidationError("destination-ip makes generate send UDP datagrams; the \(job) job sends none")
        }
        if generate.udp != nil, generate.size < ProbeStamp.minimumUDPLength {
            throw ValidationError("a stamped UDP/IPv4 frame is at least \(ProbeStamp.minimumUDPLength) bytes, not \(generate.size): give --size \(ProbeStamp.minimumUDPLength) or more")
        }
        if followSequences, job != .drop, job != .reflect {
            throw ValidationError("follow-sequences applies to drop and reflect, not \(job)")
        }
        if let fragmentMTU, !(68...9000).contains(fragmentMTU) {
            throw ValidationError("fragment-mtu must be 68...9000, not \(fragmentMTU)")
        }
        if fragmentMTU != nil, umemChunks == .aligned {
            throw ValidationError("fragment-mtu sizes unaligned buffers; aligned chunks are whole 2048-byte buffers: give --umem-chunks unaligned (or auto)")
        }
        if job == .forward, forwardTo == nil {
            throw ValidationError("the forward job needs the second interface: --to NAME")
        }
        if let forwardTo, forwardTo == interface, !interface.isEmpty {
            throw ValidationError("--to must name another interface than --interface")
        }
        if let umemSize, !(1...65536).contains(umemSize) {
            throw ValidationError("umem-size must be 1...65536 MiB, not \(umemSize)")
        }
        guard (1...1024).contains(batch) else { throw ValidationError("batch must be 1...1024, not \(batch)") }
        for (name, size) in [("ring-size", ringSize), ("fill-size", fillSize)] where size < 64 || size > 65536 || size.nonzeroBitCount != 1 {
            throw ValidationError("\(name) must be a power of two from 64 to 65536, not \(size)")
        }
        if let duration, !(duration > 0 && duration <= 31_536_000) {
            throw ValidationError("duration must be a positive number of seconds, not \(duration)")
        }
        // A frame longer than one UMEM chunk is built as a chain of buffers: multi-buffer only.
        let chunk = Int(Umem.Configuration().chunkSize)
        if job == .latency, generate.size > chunk {
            throw ValidationError("size \(generate.size) is more than one UMEM chunk (\(chunk) bytes): a latency probe fits one buffer")
        }
        if job == .generate, generate.size > chunk, multiBuffer == .off {
            throw ValidationError(
                "size \(generate.size) is more than one UMEM chunk (\(chunk) bytes): such a frame is a chain of buffers, which needs --multi-buffer auto or on")
        }
        guard statsInterval >= 0, statsInterval <= 3600 else {
            throw ValidationError("stats-interval must be 0...3600 seconds, not \(statsInterval)")
        }
    }

    static func parse<Value>(_ text: String, _ key: String, accepted: [String], _ make: (String) -> Value?) throws -> Value {
        guard let value = make(text) else {
            throw ValidationError("\(quotedInput(text)) is not a valid \(key) (accepted: \(accepted.joined(separator: ", ")))")
        }
        return value
    }

    static func parse<Value: CaseIterable & RawRepresentable<String>>(_ text: String, _ key: String, _ make: (String) -> Value?) throws -> Value {
        try parse(text, key, accepted: Value.allCases.map(\.rawValue), make)
    }

    static func generateOptions(
        size: Int?, rate: Double?, count: Int?, destination: String?, udp: GenerateOptions.UDPEndpoints? = nil
    ) throws -> GenerateOptions {
        var options = GenerateOptions()
        options.udp = udp
        // The least a UDP frame with its stamp takes, unless a size is given.
        if udp != nil { options.size = ProbeStamp.minimumUDPLength }
        if let size {
            guard (60...9000).contains(size) else { throw ValidationError("size must be 60...9000 bytes, not \(size)") }
            options.size = size
        }
        if let rate {
            guard rate >= 0, rate <= 100_000_000 else { throw ValidationError("rate must be 0...100000000 frames per second, not \(rate)") }
            options.rate = rate
        }
        if let count {
            guard count > 0 else { throw ValidationError("count must be positive, not \(count)") }
            options.count = count
        }
        if let destination {
            options.destination = try OptionValues.macAddress(destination, key: "destination-mac")
        }
        return options
    }
}
