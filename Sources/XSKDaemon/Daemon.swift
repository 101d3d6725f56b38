// The daemon's life: check the machine, set up the program, UMEM, sockets and poll threads,
// report while running, and take everything down again in order, proving at the end that
// every buffer came home.

import CShims
import DaemonInput
import Foundation
import Logging
import PageFrag
import SystemCalls
import XSK
import XSKJobs

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

final class Daemon: @unchecked Sendable {
    // Unchecked: its state is set in init and only read; run() is called once, on one thread.
    let options: Settings
    let configPath: String?
    let logger: Logger
    let notifier: ServiceManagerNotifier

    init(settings: Settings, configPath: String?, logger: Logger) {
        self.options = settings
        self.configPath = configPath
        self.logger = logger
        notifier = ServiceManagerNotifier(logger: logger)
    }

    func run(events: DaemonEvents) throws(DaemonError) {
        let names = [options.interface] + (options.job == .forward ? options.forwardTo.map { [$0] } ?? [] : [])
        let facts = try MachineFacts.read(interfaces: names)
        let plan = try RunPlan.make(options, facts: facts)
        OutputRoute.standardOutputIsCapture = options.capture?.toStandardOutput ?? false
        try checkPrivileges(umemBytes: UInt64(plan.umemSizeMiB) << 20)
        // Before anything is attached: a second xskd on this interface stops here.
        let control = try ControlSocket(interface: plan.interface, logger: logger)
        defer { control.close() }

        let runner: JobRunner
        do {
            runner = try JobRunner(configuration: plan, logger: logger)
        } catch {
            throw DaemonError("\(error)")
        }
        if options.job == .generate {
            try Self.checkFrameSize(options.generate.size, runner: runner, interface: plan.interface)
        }
        if let cpus = plan.cpus { keepOffPollCPUs(cpus) }
        switch options.job {
        case .drop:
            let follow = options.followSequences
            runner.start { _ in DropJob(followSequences: follow) }
        case .reflect:
            let follow = options.followSequences
            runner.start { _ in ReflectJob(followSequences: follow) }
        case .forward: runner.start { _ in ForwardJob() }
        case .generate:
            let generate = options.generate
            runner.start { _ in GenerateJob(generate) }
        case .latency:
            let probes = options.generate
            runner.start { _ in LatencyJob(probes) }
        case .capture:
            // The runner's capture records every frame on receive; the job gives it back.
            runner.start { _ in DropJob() }
        }
        let startTime = Date()
        let started = ContinuousClock.now
        let job = options.job.rawValue
        let interface = plan.interface
        let snapshot = { @Sendable in
            StatusSnapshot(interface: interface, job: job, startTime: startTime, started: started, runner: runner)
        }
        control.start(snapshot: snapshot)
        var metrics: MetricsServer?
        if let listen = options.metrics {
            do {
                let server = try MetricsServer(listen: listen, interface: interface, roundTrips: options.job == .latency,
                    residency: options.residencySampling > 0, logger: logger)
                try server.waitUntilListening()
                // Every metric exists from the start, counters at 0.
                server.update(snapshot())
                metrics = server
            } catch {
                logger.error("metrics unavailable", metadata: ["error": "\(error)"])
                _ = runner.stop()
                throw DaemonError("cannot serve metrics on \(listen.addresses.joined(separator: " and ")) port \(listen.port): \(error)")
            }
        }
        logger.info(
            "xskd running",
            metadata: [
                "interface": "\(interface)", "queues": "\(plan.queues)", "job": "\(options.job)",
                "mode": "\(runner.attachMode)", "bind": "\(runner.bindMode.description)",
                "fill": "\(options.fillStrategy.rawValue)",
            ])

        if let capture = options.capture {
            var metadata: Logger.Metadata = [
                "file": "\(capture.toStandardOutput ? "standard output" : capture.path)", "snapLength": "\(capture.snapLength)",
                "oneFrameIn": "\(capture.sampling)", "directions": "\(capture.outbound ? "received and sent" : "received")",
                "stagingMiB": "\(capture.stagingBytes >> 20)",
            ]
            if let bytes = capture.rotateBytes { metadata["rotateMiB"] = "\(bytes >> 20)" }
            if let interval = capture.rotateInterval { metadata["rotateSeconds"] = "\(interval.inSeconds)" }
            if let files = capture.maximumFiles { metadata["keepFiles"] = "\(files)" }
            logger.info("capturing", metadata: metadata)
        }
        // Every queue is bound and the program attached: the service manager may go on.
        notifier.ready(status: "\(options.job) on \(interface), \(plan.queues.count) queue(s)")

        var watch = facts.interfaces.compactMap { try? NetworkInterface(named: $0.name) }.map(InterfaceWatch.init)
        let lost = waitForStop(events: events, runner: runner, watch: &watch) {
            metrics?.update(snapshot())
        }
        notifier.stopping(status: "draining the queues")
        metrics?.stop()

        // Teardown: stop answering, stop the threads (each stops its queues and gives its
        // buffers back), detach the programs, then prove the pool quiescent.
        control.close()
        let drain = runner.stop()
        let samples = runner.samples()
        for (index, report) in drain.reports.enumerated() {
            output("stopped \(report)")
            if let kernel = drain.kernel[index] { output("  \(kernel)") }
            // What the job measured: stamped frames' sequences per flow, probes' round trips.
            guard let measured = samples.first(where: { $0.interface == report.interface && $0.queue == report.queue })?.measurements
            else { continue }
            let sequences = measured.sequences
            for flow in 0..<sequences.flowCount {
                let (id, counts) = sequences.flow(at: flow)
                output("  flow \(String(id, radix: 16)): \(counts)")
            }
            if sequences.untracked > 0 { output("  stamped frames of flows beyond \(FlowSequences.capacity): \(sequences.untracked)") }
            if let roundTrip = StatusSnapshot.QueueStatus.LatencySummary(measured.roundTrips) { output("  round trips \(roundTrip)") }
            if let residency = StatusSnapshot.QueueStatus.LatencySummary(measured.residency) {
                output("  residency (arrival to transmit completion) \(residency)")
            }
        }
        if let capture = drain.capture { output("\(capture)") }
        output("\(drain)")
        if let leak = drain.leak { throw DaemonError("buffers still out at exit: \(leak.census)") }
        if let lost { throw DaemonError("interface \(lost) disappeared while xskd ran (deleted or moved to another namespace)") }
        if !drain.failures.isEmpty { throw DaemonError("queue failures: \(drain.failures.joined(separator: "; "))") }
    }

    /// What the control loop knows of an interface it runs on, to report changes once.
    struct InterfaceWatch {
        let interface: NetworkInterface
        var up = true
        init(_ interface: NetworkInterface) { self.interface = interface }
    }

    /// Follows the interfaces between statistics lines: a link that goes down or comes back is
    /// logged once per change (the sockets stay bound and traffic resumes by itself); an
    /// interface that is gone, or whose name now belongs to another index, is returned.
    private func checkInterfaces(_ watch: inout [InterfaceWatch]) -> String? {
        for index in watch.indices {
            let interface = watch[index].interface
            guard if_nametoindex(interface.name) == interface.index else { return interface.name }
            let up = Self.isRunning(interface)
            if up != watch[index].up {
                watch[index].up = up
                if up {
                    logger.notice("link up again; traffic resumes on the same sockets", metadata: ["interface": "\(interface)"])
                } else {
                    logger.warning("link down; the sockets stay bound until it comes back", metadata: ["interface": "\(interface)"])
                }
            }
        }
        return nil
    }

    /// Reports every `statsInterval` until SIGINT, SIGTERM, the end of `duration`, every
    /// queue's job finishing (generate --count), or an interface that disappears (returned).
    /// Between reports it looks at the queues every 100 ms, so that a run whose jobs finished
    /// ends within that.
    private func waitForStop(events: DaemonEvents, runner: JobRunner, watch: inout [InterfaceWatch], tick: () -> Void) -> String? {
        let clock = ContinuousClock()
        let start = clock.now
        let end = options.duration.map { start + .milliseconds(Int($0 * 1000)) }
        let interval = Duration.milliseconds(Int((options.statsInterval > 0 ? options.statsInterval : 1) * 1000))
        var previous: [XSKQueue.Statistics] = []
        var last = clock.now
        var nextReport = start + interval
        while true {
            var timeout = min(nextReport - clock.now, .milliseconds(100))
            if let end {
                let left = end - clock.now
                if left <= .zero { logger.info("duration reached, stopping"); return nil }
                timeout = min(timeout, left)
            }
            switch events.wait(seconds: max(timeout.inSeconds, 0)) {
            case .stop:
                logger.info("graceful shutdown requested, stopping")
                return nil
            case .reload:
                notifier.reloading()
                reloadFilter(runner.programs)
                notifier.ready(status: "\(options.job) on \(options.interface), filter reloaded")
            case .timeout:
                break
            }
            if !runner.failures.isEmpty {
                logger.error("a queue failed, stopping")
                return nil
            }
            if runner.allFinished {
                logger.info("every queue's job finished, stopping")
                return nil
            }
            guard clock.now >= nextReport else { continue }
            nextReport = clock.now + interval
            if let lost = checkInterfaces(&watch) {
                logger.error("interface disappeared, stopping", metadata: ["interface": "\(lost)"])
                return lost
            }
            tick()
            let now = clock.now
            let seconds = (now - last).inSeconds
            last = now
            guard options.statsInterval > 0 else { continue }
            let samples = runner.samples().filter { $0.interface == options.interface }
            if previous.count != samples.count { previous = samples.map { _ in XSKQueue.Statistics() } }
            for (index, sample) in samples.enumerated() {
                let current = sample.statistics
                let rxRate = Double(current.rxPackets &- previous[index].rxPackets) / seconds / 1e6
                let txRate = Double(current.txPackets &- previous[index].txPackets) / seconds / 1e6
                previous[index] = current
                // The names are the metrics' and the JSON's (see QueueSample.fields).
                output(String(
                    format: "queue %u: rx_packets_total %llu (%.3f Mpps), tx_packets_total %llu (%.3f Mpps), "
                        + "fill_shortfalls_total %llu, invalid_addresses_total %llu, invalid_lengths_total %llu, "
                        + "xdp_redirected_total %llu, xdp_passed_total %llu",
                    sample.queue, current.rxPackets, rxRate, current.txPackets, txRate, current.fillShortfalls,
                    current.invalidAddresses, current.invalidLengths, sample.program.redirected, sample.program.passed))
            }
        }
    }

    /// SIGHUP: re-reads the config file's filter and applies it; the sockets stay as they are.
    /// A file that no longer parses changes nothing, and says why.
    private func reloadFilter(_ programs: [XDPPrograms]) {
        guard let configPath else {
            logger.notice("SIGHUP: no config file to reload; the filter stays as it is")
            return
        }
        do {
            let file = try ConfigFile.load(path: configPath)
            let filter = try OptionValues.filter(
                ethertype: file.filter?.ethertype, ipProtocol: file.filter?.ipProtocol, ports: file.filter?.ports)
            for program in programs { try program.setFilter(filter) }
            logger.notice("SIGHUP: filter reloaded", metadata: ["filter": "\(filter)", "config": "\(configPath)"])
        } catch {
            logger.error("SIGHUP: reload failed; the filter stays as it is", metadata: ["error": "\(error)"])
        }
    }

    /// Capabilities, not the user id: a service user with exactly these works as root does.
    /// UMEM registration pins memory: RLIMIT_MEMLOCK is raised if it can be (it often cannot,
    /// even for root), and CAP_IPC_LOCK, which registration honours whatever the limit, is
    /// needed only when the limit stays below the UMEM. This is a check before set-up; the
    /// kernel has the last word (the limit is charged per user, across every instance), and
    /// its refusal names CAP_IPC_LOCK too.
    /// Moves every thread of the process, and so every thread it starts later (the control
    /// socket's, the metrics server's, the capture writer's; the poll threads pin themselves
    /// to their own CPU), off the CPUs given to the poll threads. Otherwise the scheduler puts
    /// them there too (`perf sched timehist` on veth: the main thread's 100 ms ticks and the
    /// control thread's answers took 30-40 us slices from a spinning poll thread). Where the
    /// poll threads hold every CPU, nothing moves.
    private func keepOffPollCPUs(_ cpus: [Int]) {
        guard !cpus.isEmpty else { return }
        let left = cpus.map(Int32.init).withUnsafeBufferPointer {
            cshims_exclude_cpus_all_threads($0.baseAddress, Int32($0.count))
        }
        if left > 0 {
            logger.debug("the daemon's other threads keep off the poll threads' CPUs", metadata: ["pollCPUs": "\(cpus)", "cpusLeft": "\(left)"])
        } else if left == 0 {
            logger.notice(
                "the poll threads hold every CPU this process may use: the daemon's other threads take turns with them",
                metadata: ["pollCPUs": "\(cpus)"])
        } else {
            logger.warning("cannot move the daemon's other threads off the poll threads' CPUs", metadata: ["errno": "\(-left)"])
        }
    }

    private func checkPrivileges(umemBytes: UInt64) throws(DaemonError) {
        let raised = cshims_raise_memlock_limit()
        let limit = Capabilities.lockedMemoryLimit()
        guard let capabilities = Capabilities.effective() else {
            logger.warning("cannot read this process's capabilities from /proc/self/status; trying without the check")
            return
        }
        let error = capabilities.missingError(uid: geteuid(), lockedMemoryLimit: limit, umemBytes: umemBytes)
        if raised != 0 {
            let metadata: Logger.Metadata = [
                "errno": "\(SystemCallError.name(ofErrno: -raised))", "limit": "\(limit.map { "\($0) bytes" } ?? "unlimited")",
            ]
            if error != nil {
                logger.warning("cannot raise RLIMIT_MEMLOCK", metadata: metadata)
            } else if limit.map({ $0 < umemBytes }) ?? false {
                logger.info("RLIMIT_MEMLOCK stays below the UMEM; CAP_IPC_LOCK lets registration pin it", metadata: metadata)
            }
        }
        if let error { throw DaemonError(error) }
    }

    /// A generated frame longer than one chunk needs multi-buffer sockets (refused here when
    /// the kernel or driver bound single-buffer), and none may be longer than the link takes
    /// (the MTU, the Ethernet header and one VLAN tag): the kernel would refuse every one.
    static func checkFrameSize(_ size: Int, runner: JobRunner, interface: String) throws(DaemonError) {
        let chunk = Int(runner.umem.configuration.chunkSize)
        if size > chunk, !runner.isMultiBuffer {
            throw DaemonError(
                "size \(size) is more than one UMEM chunk (\(chunk) bytes) and \(interface)'s sockets are single-buffer (no multi-buffer AF_XDP here): at most \(chunk) bytes")
        }
        let mtu: Int
        do { mtu = try runner.linkMTU() } catch { throw DaemonError("\(error)") }
        if size > mtu + 18 {
            throw DaemonError("size \(size) is longer than \(interface) sends: MTU \(mtu) takes frames of at most \(mtu + 18) bytes")
        }
    }

    static func isUp(_ interface: NetworkInterface) -> Bool {
        flags(interface).map { $0 & Int32(IFF_UP) != 0 } ?? true
    }

    /// Administratively up and with a carrier (a veth whose peer is down has none).
    static func isRunning(_ interface: NetworkInterface) -> Bool {
        flags(interface).map { $0 & Int32(IFF_UP) != 0 && $0 & Int32(IFF_RUNNING) != 0 } ?? true
    }

    private static func flags(_ interface: NetworkInterface) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { bytes in
            for (index, byte) in interface.name.utf8.enumerated() { bytes[index] = byte }
        }
        guard ioctl(descriptor, UInt(SIOCGIFFLAGS), &request) == 0 else { return nil }
        return Int32(request.ifr_ifru.ifru_flags)
    }

    /// MemAvailable plus free 2 MiB hugepages, in MiB, from /proc/meminfo (nil if unreadable).
    static func availableMemoryMiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if parts.count >= 2, let value = Int(parts[1]) { fields[String(parts[0])] = value }
        }
        guard let available = fields["MemAvailable"] else { return nil }
        let huge = (fields["HugePages_Free"] ?? 0) * (fields["Hugepagesize"] ?? 0)
        return (available + huge) >> 10
    }

    /// RX queues of the interface, from sysfs (nil when sysfs does not show it).
    static func receiveQueueCount(_ interface: NetworkInterface) -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net/\(interface.name)/queues") else {
            return nil
        }
        let count = entries.filter { $0.hasPrefix("rx-") }.count
        return count > 0 ? count : nil
    }
}

/// A line on standard output, written at once (a pipe would otherwise buffer it until exit);
/// on standard error while a capture is written to standard output.
func output(_ line: String) {
    let handle = OutputRoute.standardOutputIsCapture ? FileHandle.standardError : FileHandle.standardOutput
    handle.write(Data((line + "\n").utf8))
}

/// Where the daemon's report lines go.
enum OutputRoute {
    /// Set once, before the run starts (and read after): standard output carries the capture.
    nonisolated(unsafe) static var standardOutputIsCapture = false
}

/// What the service lifecycle asks of the daemon's control loop: stop (SIGTERM, SIGINT) or
/// reload the filter (SIGHUP). The loop waits on it between statistics lines.
final class DaemonEvents: @unchecked Sendable {
    enum Event { case stop, reload, timeout }
    private let state = LockedValue((stop: false, reload: false))
    private let wakeup = DispatchSemaphore(value: 0)

    func requestStop() {
        state.withLock { $0.stop = true }
        wakeup.signal()
    }

    func requestReload() {
        state.withLock { $0.reload = true }
        wakeup.signal()
    }

    func wait(seconds: Double) -> Event {
        _ = wakeup.wait(timeout: .now() + seconds)
        return state.withLock { state -> Event in
            if state.stop { return .stop }
            if state.reload {
                state.reload = false
                return .reload
            }
            return .timeout
        }
    }
}
