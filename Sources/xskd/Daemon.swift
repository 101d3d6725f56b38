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

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

final class Daemon: @unchecked Sendable {
    // Unchecked: its state is set in init and only read; run() is called once, on one thread.
    let options: Settings
    let configPath: String?
    let logger: Logger

    init(settings: Settings, configPath: String?, logger: Logger) {
        self.options = settings
        self.configPath = configPath
        self.logger = logger
    }

    func run(events: DaemonEvents) throws(DaemonError) {
        guard geteuid() == 0 else {
            throw DaemonError("xskd needs root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON and CAP_IPC_LOCK)")
        }
        let interface: NetworkInterface
        do {
            interface = try NetworkInterface(named: options.interface)
        } catch {
            throw DaemonError("\(error)")
        }
        guard Self.isUp(interface) else {
            throw DaemonError("interface \(interface) is down: bring it up with `ip link set \(interface) up`")
        }
        let available = Self.receiveQueueCount(interface)
        let queues: [UInt32]
        do {
            queues = try options.queues.resolve(available: available, interface: interface.name)
        } catch {
            throw DaemonError("\(error)")
        }
        let cpus = options.cpus
        if let cpus {
            let configured = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
            if let bad = cpus.first(where: { $0 >= configured }) {
                throw DaemonError("cpu \(bad) does not exist: this machine has \(configured) (0...\(configured - 1))")
            }
            if cpus.count > queues.count {
                throw DaemonError("--cpus lists \(cpus.count) CPUs for \(queues.count) queue(s): give at most one per queue, in queue order")
            }
        }
        // The UMEM is pinned memory: asking for more than the machine can give would end in the
        // OOM killer or a failed registration, not in a clear error.
        if let available = Self.availableMemoryMiB(), options.umemSize > available {
            throw DaemonError(
                "umem-size \(options.umemSize) MiB is more than this machine can pin now (\(available) MiB available, free hugepages included)")
        }
        // The forward job's second port.
        var peerInterface: NetworkInterface?
        if let name = options.forwardTo {
            do {
                peerInterface = try NetworkInterface(named: name)
            } catch {
                throw DaemonError("\(error)")
            }
            guard Self.isUp(peerInterface!) else {
                throw DaemonError("interface \(name) is down: bring it up with `ip link set \(name) up`")
            }
            if let available = Self.receiveQueueCount(peerInterface!), let bad = queues.first(where: { $0 >= available }) {
                throw DaemonError("queue \(bad) does not exist on \(name): it has \(available) (0...\(available - 1))")
            }
        }
        // Before anything is attached: a second xskd on this interface stops here.
        let control = try ControlSocket(interface: interface.name, logger: logger)
        defer { control.close() }
        raiseMemoryLockLimit()

        // Set-up, in the order teardown undoes it (each piece's deinit also undoes it on error).
        let programs: XDPPrograms
        let link: XDPLink
        var peerLink: XDPLink?
        let pool: PagePool
        var workers: [QueueWorker] = []
        do {
            programs = try XDPPrograms(logger: logger)
            try programs.setFilter(options.filter)
            link = try programs.attach(.redirect, to: interface, mode: options.xdpMode, replaceForeign: options.force)
            pool = try PagePool(
                configuration: .init(size: options.umemSize << 20, pageOrder: 9, backing: options.hugepages),
                logger: logger)
            var umemConfiguration = Umem.Configuration()
            umemConfiguration.fillSize = options.fillSize
            umemConfiguration.completionSize = options.fillSize
            let umem = try Umem(pool: pool, configuration: umemConfiguration, logger: logger)
            // The second port has a program (and XSK map) of its own; its sockets share the UMEM.
            var peerPrograms: XDPPrograms?
            if let peerInterface {
                let loaded = try XDPPrograms(logger: logger)
                try loaded.setFilter(options.filter)
                peerLink = try loaded.attach(.redirect, to: peerInterface, mode: options.xdpMode, replaceForeign: options.force)
                peerPrograms = loaded
            }
            var queueConfiguration = XSKQueue.Configuration()
            queueConfiguration.batchSize = options.batch
            queueConfiguration.fillStrategy = options.fillStrategy
            queueConfiguration.mtu = options.fragmentMTU
            for (position, queue) in queues.enumerated() {
                var socketConfiguration = XSKSocket.Configuration(interface: interface.name, queue: queue)
                socketConfiguration.bindMode = options.bindMode
                socketConfiguration.rxSize = options.ringSize
                socketConfiguration.txSize = options.ringSize
                socketConfiguration.busyPoll = options.busyPoll
                let socket = try XSKSocket(umem: umem, configuration: socketConfiguration, logger: logger)
                try programs.insertSocket(socket.descriptor, queue: queue)
                var peer: (socket: XSKSocket, programs: XDPPrograms)?
                if let peerInterface, let peerPrograms {
                    var peerConfiguration = socketConfiguration
                    peerConfiguration.interface = peerInterface.name
                    let peerSocket = try XSKSocket(umem: umem, configuration: peerConfiguration, logger: logger)
                    try peerPrograms.insertSocket(peerSocket.descriptor, queue: queue)
                    peer = (peerSocket, peerPrograms)
                }
                var queueLogger = logger
                queueLogger[metadataKey: "queue"] = "\(queue)"
                workers.append(QueueWorker(
                    socket: socket, programs: programs, job: options.job, wait: options.wait,
                    cpu: cpus.flatMap { position < $0.count ? $0[position] : nil },
                    configuration: queueConfiguration, generate: options.generate, busyPolling: options.busyPoll != nil,
                    peer: peer, logger: queueLogger))
            }
        } catch let error as XSKError {
            throw DaemonError("\(error)")
        } catch let error as PagePoolError {
            throw DaemonError("\(error)")
        } catch {
            throw DaemonError("\(error)")
        }

        for worker in workers { worker.start() }
        let started = ContinuousClock.now
        let rates = LockedValue<(at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])?>(nil)
        let job = options.job.rawValue
        let running = workers
        let snapshot: @Sendable () -> StatusSnapshot = {
            Self.snapshot(
                interface: interface.name, job: job, started: started, workers: running, queues: queues,
                programs: programs, pool: pool, rates: rates)
        }
        control.start(snapshot: snapshot)
        var metrics: MetricsServer?
        if let address = options.metrics {
            do {
                let server = try MetricsServer(address: address.address, port: address.port, interface: interface.name, logger: logger)
                try server.waitUntilListening()
                metrics = server
            } catch {
                logger.error("metrics unavailable", metadata: ["error": "\(error)"])
                for worker in workers { worker.stop() }
                for worker in workers { worker.join() }
                throw DaemonError("cannot serve metrics on \(address.address):\(address.port): \(error)")
            }
        }
        logger.info(
            "xskd running",
            metadata: [
                "interface": "\(interface)", "queues": "\(queues)", "job": "\(options.job)",
                "mode": "\(link.mode)", "bind": "\(workers.first?.socket.boundMode.description ?? "?")",
                "fill": "\(options.fillStrategy.rawValue)",
            ])

        // Metrics keep their own rate baseline (the stats socket's belongs to its clients).
        let metricsRates = LockedValue<(at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])?>(nil)
        var watch = [InterfaceWatch(interface)]
        if let peerInterface { watch.append(InterfaceWatch(peerInterface)) }
        let lost = waitForStop(events: events, workers: workers, programs: programs, queues: queues, watch: &watch) {
            metrics?.update(Self.snapshot(
                interface: interface.name, job: job, started: started, workers: running, queues: queues,
                programs: programs, pool: pool, rates: metricsRates))
        }
        metrics?.stop()

        // Teardown: stop answering, stop the threads (each stops its queue and gives its
        // buffers back), detach the program, then prove the pool quiescent.
        control.close()
        for worker in workers { worker.stop() }
        for worker in workers { worker.join() }
        var failures: [String] = []
        for worker in workers {
            let snapshot = worker.published.withLock { $0 }
            if let failure = snapshot.failure { failures.append(failure) }
            if let report = snapshot.report {
                output("stopped \(report)")
                if let kernel = snapshot.kernel { output("  kernel: \(kernel)") }
            }
            if let report = snapshot.peerReport { output("stopped \(report)") }
        }
        link.detach()
        peerLink?.detach()
        workers.removeAll()
        if let leak = pool.waitUntilQuiescent(timeout: .seconds(2)) {
            output("drain report: NOT quiescent\n\(leak)")
            throw DaemonError("buffers still out at exit: \(leak.census)")
        }
        output("drain report: every buffer came home; \(pool.census())")
        if let lost { throw DaemonError("interface \(lost) disappeared while xskd ran (deleted or moved to another namespace)") }
        if !failures.isEmpty { throw DaemonError("queue failures: \(failures.joined(separator: "; "))") }
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

    /// Reports every `statsInterval` until SIGINT, SIGTERM, the end of `duration`, or an
    /// interface that disappears (returned).
    private func waitForStop(
        events: DaemonEvents, workers: [QueueWorker], programs: XDPPrograms, queues: [UInt32],
        watch: inout [InterfaceWatch], tick: () -> Void
    ) -> String? {
        let clock = ContinuousClock()
        let start = clock.now
        let end = options.duration.map { start + .milliseconds(Int($0 * 1000)) }
        let interval = options.statsInterval > 0 ? options.statsInterval : 1
        var previous = workers.map { _ in XSKQueue.Statistics() }
        var last = clock.now
        while true {
            var timeout = interval
            if let end {
                let left = end - clock.now
                if left <= .zero { logger.info("duration reached, stopping"); return nil }
                timeout = min(interval, left.inSeconds)
            }
            switch events.wait(seconds: timeout) {
            case .stop:
                logger.info("graceful shutdown requested, stopping")
                return nil
            case .reload:
                reloadFilter(programs)
            case .timeout:
                break
            }
            if workers.contains(where: { $0.published.withLock { $0.failure != nil } }) {
                logger.error("a queue failed, stopping")
                return nil
            }
            if let lost = checkInterfaces(&watch) {
                logger.error("interface disappeared, stopping", metadata: ["interface": "\(lost)"])
                return lost
            }
            tick()
            let now = clock.now
            let elapsed = now - last
            let seconds = elapsed.inSeconds
            last = now
            guard options.statsInterval > 0 else { continue }
            for (index, worker) in workers.enumerated() {
                let current = worker.published.withLock { $0.statistics }
                let rxRate = Double(current.rxPackets &- previous[index].rxPackets) / seconds / 1e6
                let txRate = Double(current.txPackets &- previous[index].txPackets) / seconds / 1e6
                previous[index] = current
                let program = (try? programs.counters(queue: queues[index])) ?? QueueCounters()
                output(String(
                    format: "queue %u: rx %.3f Mpps (%llu), tx %.3f Mpps (%llu), fill shortfalls %llu, invalid %llu | xdp redirected %llu, passed %llu",
                    queues[index], rxRate, current.rxPackets, txRate, current.txPackets, current.fillShortfalls,
                    current.invalidAddresses &+ current.invalidLengths, program.redirected, program.passed))
            }
        }
    }

    /// One snapshot for `xskd stats`, from what the workers published (never their rings).
    static func snapshot(
        interface: String, job: String, started: ContinuousClock.Instant, workers: [QueueWorker], queues: [UInt32],
        programs: XDPPrograms, pool: PagePool,
        rates: LockedValue<(at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])?>
    ) -> StatusSnapshot {
        let now = ContinuousClock.now
        let published = workers.map { worker in worker.published.withLock { $0 } }
        let rx = published.map(\.statistics.rxPackets)
        let tx = published.map(\.statistics.txPackets)
        let previous = rates.withLock { state -> (at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])? in
            defer { state = (now, rx, tx) }
            return state
        }
        let elapsed = previous.map { now - $0.at } ?? (now - started)
        let seconds = max(elapsed.inSeconds, 1e-3)
        var statuses: [StatusSnapshot.QueueStatus] = []
        for (index, worker) in workers.enumerated() {
            let statistics = published[index].statistics
            let census = published[index].census
            let kernel = try? worker.socket.statistics()
            let program = (try? programs.counters(queue: queues[index])) ?? QueueCounters()
            let rxBefore = previous?.rx[index] ?? 0
            let txBefore = previous?.tx[index] ?? 0
            statuses.append(StatusSnapshot.QueueStatus(
                queue: queues[index], rxPackets: statistics.rxPackets, rxBytes: statistics.rxBytes,
                txPackets: statistics.txPackets, txBytes: statistics.txBytes,
                rxPacketsPerSecond: Double(statistics.rxPackets &- rxBefore) / seconds,
                txPacketsPerSecond: Double(statistics.txPackets &- txBefore) / seconds,
                fillShortfalls: statistics.fillShortfalls, fillRingEmptyEvents: statistics.fillRingEmptyEvents,
                invalidAddresses: statistics.invalidAddresses, invalidLengths: statistics.invalidLengths,
                transmitAllocationFailures: statistics.transmitAllocationFailures,
                receiveBatches: statistics.receiveBatches, transmitBatches: statistics.transmitBatches,
                sleeps: statistics.sleeps, naps: statistics.naps, receiveWakeups: statistics.receiveWakeups, transmitWakeups: statistics.transmitWakeups,
                redirected: program.redirected, passed: program.passed, tooLong: program.tooLong,
                kernelRxDropped: kernel?.rxDropped, kernelRxRingFull: kernel?.rxRingFull,
                kernelFillRingEmpty: kernel?.rxFillRingEmpty, kernelTxInvalid: kernel?.txInvalidDescriptors,
                inFillRing: census?.inFillRing, withKernelForReceive: census?.withKernelForReceive,
                inApplication: census?.inApplication, inTransmitRing: census?.inTransmitRing,
                withKernelForTransmit: census?.withKernelForTransmit,
                pagesTaken: census?.cacheStatistics.pagesTaken, pagesReleasedBusy: census?.cacheStatistics.pagesReleasedBusy,
                pagesReusedInPlace: census?.cacheStatistics.pagesReusedInPlace,
                slotPagesReused: census?.slotStatistics?.pagesReused, slotPagesBusy: census?.slotStatistics?.pagesBusy,
                slotPagesAllocated: census?.slotStatistics?.pagesAllocated))
        }
        let poolCensus = pool.census()
        let uptime = now - started
        return StatusSnapshot(
            interface: interface, job: job,
            uptimeSeconds: uptime.inSeconds,
            queues: statuses, poolFreeBytes: poolCensus.freeBytes, poolTotalBytes: poolCensus.totalBytes,
            outstandingFragments: poolCensus.outstandingFragments)
    }

    /// SIGHUP: re-reads the config file's filter and applies it; the sockets stay as they are.
    /// A file that no longer parses changes nothing, and says why.
    private func reloadFilter(_ programs: XDPPrograms) {
        guard let configPath else {
            logger.notice("SIGHUP: no config file to reload; the filter stays as it is")
            return
        }
        do {
            let file = try ConfigFile.load(path: configPath)
            let filter = try OptionValues.filter(
                ethertype: file.filter?.ethertype, ipProtocol: file.filter?.ipProtocol, ports: file.filter?.ports)
            try programs.setFilter(filter)
            logger.notice("SIGHUP: filter reloaded", metadata: ["filter": "\(filter)", "config": "\(configPath)"])
        } catch {
            logger.error("SIGHUP: reload failed; the filter stays as it is", metadata: ["error": "\(error)"])
        }
    }

    /// UMEM registration pins memory. Root has CAP_IPC_LOCK, which registration honours even
    /// when raising RLIMIT_MEMLOCK is refused, so a refusal here is only a warning.
    private func raiseMemoryLockLimit() {
        let result = cshims_raise_memlock_limit()
        if result != 0 {
            logger.warning(
                "cannot raise RLIMIT_MEMLOCK; relying on CAP_IPC_LOCK for UMEM registration",
                metadata: ["errno": "\(SystemCallError.name(ofErrno: -result))"])
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

/// A line on standard output, written at once (a pipe would otherwise buffer it until exit).
func output(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
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
