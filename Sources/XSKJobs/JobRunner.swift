// The runner: everything around a job. It loads and attaches our XDP program on each port's
// interface, maps the page pool and registers it as the UMEM that every port shares, binds one
// socket per queue and port, and starts one poll thread per queue running the job; while they
// run it gathers samples for stats and metrics; at the stop it stops every thread (each stops
// its queues and gives their buffers back), detaches the programs and proves that every
// buffer came home.
//
// Set-up unwinds by itself on error: every piece made so far is released in reverse order by
// its own deinit (the link detaches, the socket closes, the UMEM unregisters, the pool unmaps).

import Glibc
import Logging
import PageFrag
import SystemCalls
import XSK

/// What to build for a run: the interfaces and queues, the sizes, the modes.
public struct RunnerConfiguration: Sendable {
    /// Port 0's interface.
    public var interface: String
    /// Port 1's interface, for a job with two ports (a forwarder): same queues, same UMEM.
    public var secondInterface: String?
    /// The queues to run on, one poll thread each; every port runs on the same queue ids.
    public var queues: [UInt32] = [0]
    /// Which frames the XDP program sends to the sockets (the rest stay with the kernel).
    public var filter = TrafficFilter()
    /// How the XDP program is attached to each interface: native, skb, or native when the driver
    /// supports it.
    public var xdpMode: XDPAttachMode = .automatic
    /// Replace an XDP program that is not ours.
    public var replaceForeignProgram = false
    /// The size of the page pool, and so of the UMEM that every port shares, in MiB.
    public var umemSizeMiB = 64
    /// What backs the page pool: 2 MiB hugepages, 4 KiB pages, or hugepages when enough are free.
    public var hugepages: PagePool.Backing = .automatic
    /// Fill and completion ring size.
    public var fillRingSize: UInt32 = 4096
    /// RX and TX ring size.
    public var ringSize: UInt32 = 2048
    /// How every socket binds: zero-copy, copy, or zero-copy when the driver supports it.
    public var bindMode: XSKSocket.BindMode = .automatic
    /// Busy polling on every socket; nil leaves it off.
    public var busyPoll: XSKSocket.BusyPoll?
    /// Frames longer than one buffer as chains: the multi-buffer XDP program and sockets bound
    /// with `XDP_USE_SG`, where the kernel and driver allow (`.automatic`, logged when not).
    /// `.off`: the single-buffer program and sockets, longer frames to the kernel.
    public var multiBuffer: XSKSocket.MultiBuffer = .automatic
    /// The UMEM's chunk mode: aligned chunks, unaligned fragments, or the one that measured
    /// faster here (`.automatic`, logged with the reason).
    public var chunks: UmemChunks = .automatic
    /// How the poll threads run and wait.
    public var poll = PollSettings()
    /// Pin queue i's poll thread to `cpus[i]`.
    public var cpus: [Int]?
    /// Capture what the queues receive and send into pcapng files; nil: no capture.
    public var capture: CaptureSettings?

    /// A run on `queues` of `interface`, with every other setting at its default.
    public init(interface: String, queues: [UInt32] = [0]) {
        self.interface = interface
        self.queues = queues
    }

    /// Port 0's interface, then port 1's if any.
    public var interfaces: [String] { [interface] + (secondInterface.map { [$0] } ?? []) }
}

/// Why a run could not be set up: the message names the interface, queue or call.
public struct RunnerError: Error, CustomStringConvertible {
    /// What went wrong, naming the interface, queue or call.
    public var description: String
    /// An error whose message is `description`.
    public init(_ description: String) { self.description = description }
}

/// What the stop found: every queue's report, and whether every buffer came home.
public struct DrainReport: Sendable, CustomStringConvertible {
    /// One per queue and port, in queue order (port 0, then port 1).
    public var reports: [StopReport]
    /// The kernel's XDP_STATISTICS per report, read just before its socket closed.
    public var kernel: [XDPStatistics?]
    /// Set-up or job failures, one line each.
    public var failures: [String]
    /// Nil when every buffer came home; else the pages still out.
    public var leak: LeakReport?
    /// The pool's census once the wait ended: free bytes, held and released pages, fragments out.
    public var census: PoolCensus
    /// What the run's capture wrote; nil without one.
    public var capture: CaptureReport?

    /// Whether every buffer came home.
    public var isClean: Bool { leak == nil }

    /// One line for the stop output.
    public var description: String {
        if let leak { return "drain report: NOT quiescent\n\(leak)" }
        return "drain report: every buffer came home; \(census)"
    }
}

/// Everything around a packet job: the XDP programs, the page pool and its UMEM, one socket per
/// queue and port, and one poll thread per queue.
///
/// Making a runner sets the run up and starts nothing; ``start(_:)`` starts the threads with
/// the job, ``samples()`` reads what they publish while they run, and ``stop(timeout:)`` stops
/// them and returns the ``DrainReport``.
public final class JobRunner: @unchecked Sendable {
    // Unchecked: `threads` is written by start and stop, on the control thread that owns the
    // runner; the threads publish through their own locks.
    /// What the run was built from.
    public let configuration: RunnerConfiguration
    /// Our XDP program, one per port.
    public let programs: [XDPPrograms]
    let links: [XDPLink]
    /// The page pool whose region every port's sockets share as their UMEM.
    public let pool: PagePool
    /// The pool's region as registered with the kernel.
    public let umem: Umem
    /// One socket per queue and port, in queue order: what the threads will run on.
    let sockets: [[XSKSocket]]
    /// One poll thread per queue, in configuration order: empty before ``start(_:)`` and after
    /// ``stop(timeout:)``.
    public private(set) var threads: [QueueThread] = []
    /// Where the run and its queues log.
    public let logger: Logger
    /// When ``start(_:)`` started the threads; nil before.
    public private(set) var started: ContinuousClock.Instant?
    /// The run's capture writer; nil without a capture.
    public let capture: CaptureWriter?

    /// How port 0's XDP program was attached: native or skb.
    public var attachMode: XDPAttachMode { links[0].mode }
    /// How the first queue's port 0 socket bound: zero-copy or copy.
    public var bindMode: XSKSocket.BindMode { sockets[0][0].boundMode }
    /// Whether the sockets bound multi-buffer (they all follow the UMEM's own socket).
    public var isMultiBuffer: Bool { sockets[0][0].isMultiBuffer }
    /// Port `port`'s interface MTU now.
    public func linkMTU(port: Int = 0) throws(XSKError) -> Int { try sockets[0][port].linkMTU() }

    /// Attaches the multi-buffer redirect program, or with multi-buffer off (or refused in
    /// automatic mode: a kernel before 5.18), the single-buffer one.
    private static func attachRedirect(
        _ programs: XDPPrograms, to interface: NetworkInterface, configuration: RunnerConfiguration, logger: Logger
    ) throws(XSKError) -> XDPLink {
        let attach = { (program: XDPPrograms.Program) throws(XSKError) -> XDPLink in
            try programs.attach(program, to: interface, mode: configuration.xdpMode, replaceForeign: configuration.replaceForeignProgram)
        }
        guard configuration.multiBuffer != .off else { return try attach(.redirect) }
        do {
            return try attach(.redirectFrags)
        } catch {
            guard configuration.multiBuffer == .automatic, case .system(let failure) = error,
                failure.errno == EINVAL || failure.errno == EOPNOTSUPP
            else { throw error }
            logger.notice(
                "the multi-buffer XDP program was refused; attaching the single-buffer one (frames longer than one buffer go to the kernel)",
                metadata: ["interface": "\(interface)", "error": "\(failure)"])
            return try attach(.redirect)
        }
    }

    /// Whether the run's UMEM takes aligned chunks, and why.
    static func chooseChunks(_ configuration: RunnerConfiguration) -> (aligned: Bool, reason: String) {
        switch configuration.chunks {
        case .aligned: (true, "asked for")
        case .unaligned: (false, "asked for")
        case .automatic where configuration.poll.queue.mtu != nil:
            (false, "a fragment MTU sizes unaligned buffers")
        case .automatic:
            (true, "aligned chunks are the kernel's fast path: on veth (copy mode) drop received 1.04x the frames of unaligned fragments, reflect 1.00x (BENCHMARKS.md, issue 17); --umem-chunks unaligned packs 14% more buffers per MiB at MTU 1500")
        }
    }

    /// Builds the run: programs attached, UMEM registered, every socket bound. Nothing runs yet.
    public init(configuration: RunnerConfiguration, logger: Logger = Logger(label: "xskd")) throws(RunnerError) {
        self.configuration = configuration
        self.logger = logger
        guard !configuration.queues.isEmpty else { throw RunnerError("a run needs at least one queue") }
        do {
            let interfaces = try configuration.interfaces.map { name throws(XSKError) in try NetworkInterface(named: name) }
            var programs: [XDPPrograms] = []
            var links: [XDPLink] = []
            for interface in interfaces {
                let loaded = try XDPPrograms(logger: logger)
                try loaded.setFilter(configuration.filter)
                links.append(try Self.attachRedirect(loaded, to: interface, configuration: configuration, logger: logger))
                programs.append(loaded)
            }
            // Chains need the multi-buffer program on every port: a frame that reached a
            // single-buffer program whole could not be sent out of a port whose program
            // splits, nor the other way round, so one plain program turns chains off.
            let multiBuffer = links.allSatisfy { $0.program == .redirectFrags } ? configuration.multiBuffer : .off
            let pool = try PagePool(
                configuration: .init(size: configuration.umemSizeMiB << 20, pageOrder: 9, backing: configuration.hugepages),
                logger: logger)
            var umemConfiguration = Umem.Configuration()
            let (aligned, reason) = Self.chooseChunks(configuration)
            umemConfiguration.unalignedChunks = !aligned
            logger.info(
                "UMEM chunks \(aligned ? "aligned" : "unaligned")",
                metadata: ["setting": "\(configuration.chunks)", "reason": "\(reason)"])
            umemConfiguration.fillSize = configuration.fillRingSize
            umemConfiguration.completionSize = configuration.fillRingSize
            let umem = try Umem(pool: pool, configuration: umemConfiguration, logger: logger)
            var sockets: [[XSKSocket]] = []
            for queue in configuration.queues {
                var ports: [XSKSocket] = []
                for (port, interface) in interfaces.enumerated() {
                    var socketConfiguration = XSKSocket.Configuration(interface: interface.name, queue: queue)
                    socketConfiguration.bindMode = configuration.bindMode
                    socketConfiguration.rxSize = configuration.ringSize
                    socketConfiguration.txSize = configuration.ringSize
                    socketConfiguration.busyPoll = configuration.busyPoll
                    socketConfiguration.multiBuffer = multiBuffer
                    let socket = try XSKSocket(umem: umem, configuration: socketConfiguration, logger: logger)
                    try programs[port].insertSocket(socket.descriptor, queue: queue)
                    ports.append(socket)
                }
                sockets.append(ports)
            }
            // One interface description per queue and port, in the order the threads number
            // them (queue position x ports + port).
            capture = try configuration.capture.map { settings throws(RunnerError) in
                let described = configuration.queues.flatMap { queue in
                    interfaces.map { PcapngBlocks.Interface(name: $0.name, description: "xskd queue \(queue) of \($0.name)") }
                }
                return try CaptureWriter(
                    settings: settings, interfaces: described, threads: configuration.queues.count, portCount: interfaces.count,
                    pollCPUs: configuration.cpus ?? [], logger: logger)
            }
            self.programs = programs
            self.links = links
            self.pool = pool
            self.umem = umem
            self.sockets = sockets
        } catch let error as XSKError {
            throw RunnerError("\(error)")
        } catch let error as PagePoolError {
            throw RunnerError("\(error)")
        } catch let error as RunnerError {
            throw error
        } catch {
            throw RunnerError("\(error)")
        }
    }

    /// Starts one poll thread per queue, each running the job `makeJob` makes for it (called
    /// on that thread). Generic and inlinable: the poll loop is specialised for `Job` in the
    /// caller's module.
    @inlinable
    public func start<Job: PacketJob>(_ makeJob: @escaping @Sendable (JobSetup) throws -> Job) {
        precondition(threadsNotStarted, "the runner was started already")
        for thread in makeThreads() {
            thread.start { PollLoop<Job>.run(thread, makeJob) }
        }
        markStarted()
    }

    @usableFromInline var threadsNotStarted: Bool { started == nil }

    @usableFromInline
    func makeThreads() -> [QueueThread] {
        threads = configuration.queues.enumerated().map { position, queue in
            var queueLogger = logger
            queueLogger[metadataKey: "queue"] = "\(queue)"
            let cpus = configuration.cpus
            return QueueThread(
                queue: queue, position: position, sockets: sockets[position], programs: programs,
                cpu: cpus.flatMap { position < $0.count ? $0[position] : nil }, settings: configuration.poll,
                capture: capture, logger: queueLogger)
        }
        return threads
    }

    @usableFromInline
    func markStarted() {
        capture?.start()
        started = .now
    }

    /// Every port's queue now, from what the threads published (never their rings): queue
    /// order, port 0 then port 1. After `stop`, the final counters.
    public func samples() -> [QueueSample] {
        var samples: [QueueSample] = []
        for thread in threads {
            let snapshot = thread.snapshot
            for (port, published) in snapshot.ports.enumerated() {
                let socket = thread.sockets[port]
                samples.append(QueueSample(
                    interface: socket.interface.name, queue: thread.queue, statistics: published.statistics,
                    program: (try? programs[port].counters(queue: thread.queue)) ?? QueueCounters(),
                    kernel: published.kernel ?? (try? socket.statistics()), census: published.census,
                    measurements: port == 0 ? snapshot.measurements : JobMeasurements(), capture: published.capture))
            }
        }
        return samples
    }

    /// Failures the threads reported so far, one line each.
    public var failures: [String] { threads.compactMap { $0.snapshot.failure } }

    /// Whether every queue's job said it has finished (`JobContext.finish()`).
    public var allFinished: Bool { !threads.isEmpty && threads.allSatisfy { $0.snapshot.finished } }

    /// Set by `stop`: the threads have ended; `samples()` gives their final counters.
    public private(set) var stopped = false

    /// Why `wait(timeout:)` returned.
    public enum End: Sendable, Equatable {
        /// SIGINT or SIGTERM arrived (the signal's number); block them first with
        /// `TerminationSignals.block()`, or they end the process instead.
        case signal(Int32)
        /// Every queue's job called `JobContext.finish()`.
        case finished
        /// A queue failed (`failures` says why).
        case failed
        /// The timeout passed.
        case timedOut
    }

    /// Waits on the calling thread (never a poll thread) until the run should end: a
    /// termination signal, every job finished, a queue failed, or `timeout` passed. Then call
    /// `stop`.
    public func wait(timeout: Duration? = nil) -> End {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if !failures.isEmpty { return .failed }
            if allFinished { return .finished }
            var slice = Duration.milliseconds(20)
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return .timedOut }
                slice = min(slice, left)
            }
            if let signal = TerminationSignals.wait(timeout: slice) { return .signal(signal) }
        }
    }

    /// Stops every thread (each stops its queues and gives their buffers back), detaches the
    /// programs, and waits up to `timeout` for every buffer to come home.
    public func stop(timeout: Duration = .seconds(2)) -> DrainReport {
        precondition(!stopped, "the runner was stopped already")
        stopped = true
        for thread in threads { thread.stop() }
        for thread in threads { thread.join() }
        var reports: [StopReport] = []
        var kernel: [XDPStatistics?] = []
        for thread in threads {
            for port in thread.snapshot.ports {
                if let report = port.report {
                    reports.append(report)
                    kernel.append(port.kernel)
                }
            }
        }
        let failures = self.failures
        // The threads have stopped staging: the writer writes what is left and closes.
        let captured = started == nil ? nil : capture?.stop()
        for link in links { link.detach() }
        let leak = pool.waitUntilQuiescent(timeout: timeout)
        return DrainReport(reports: reports, kernel: kernel, failures: failures, leak: leak, census: pool.census(), capture: captured)
    }
}
