// One queue's poll thread, as the runner and the control thread see it: what it runs on (its
// sockets, one per port), how it waits, and what it publishes (counters and census every
// ~100 ms, the stop reports at the end) under a lock that only the publisher and readers
// take, never the per-packet path. The loop itself is `PollLoop`, generic over the job.

import CShims
import Logging
import PageFrag
import Synchronization
import SystemCalls
import XSK

/// How a poll thread runs, the same for every queue of a run.
public struct PollSettings: Sendable {
    /// How an idle poll thread waits.
    public var wait: WaitMode = .adaptive
    /// Every empty round calls recvfrom: that call is what runs the device's NAPI in this
    /// thread with busy polling on (copy mode never asks for a wakeup by itself).
    public var busyPolling = false
    /// Each queue's batch size, fragment alignment, MTU and fill strategy.
    public var queue = XSKQueue.Configuration()
    /// With the adaptive wait: the longest a frame may wait in the RX ring for the poll thread.
    /// Naps are shortened to keep it, and where a wakeup from sleep takes longer on this
    /// machine (the 99th percentile, measured at each thread's start), the thread polls without
    /// sleeping. Where it sleeps, the first frame after each sleep is checked by its arrival
    /// stamp, and sleeping is held off while more than one in a hundred waited longer (see
    /// `LatencyCapWatch`). The threads' timer slack drops to 1 µs. nil: no cap (naps up to
    /// 1 ms while a stream flows).
    public var maxLatency: Duration?
    /// Residency sampling: one received frame in this many is timed from its arrival at the
    /// XDP program to its transmit completion (for jobs that send what they receive); 0: off.
    /// On, the program reads the clock for every frame it sends to the queue.
    public var residencySampling = 0
    /// The defaults: the adaptive wait, no busy polling, and the queue's default configuration.
    public init() {}
}

/// What one port of a poll thread published last.
public struct PortSnapshot: Sendable {
    /// The port's queue counters.
    public var statistics = XSKQueue.Statistics()
    /// Where the port's buffers were; nil before the first publication.
    public var census: QueueCensus?
    /// The kernel's XDP_STATISTICS, read once at the stop while the socket is still open.
    public var kernel: XDPStatistics?
    /// What the run's capture staged and missed of the port's frames (zero without one).
    public var capture = CaptureCounters()
    /// What stopping the port's queue found; nil until the thread has finished.
    public var report: StopReport?
}

/// What a poll thread published last.
public struct QueueThreadSnapshot: Sendable {
    /// What each port published, port 0 first.
    public var ports: [PortSnapshot]
    /// Set-up or the job failed: why.
    public var failure: String?
    /// The job said it has nothing more to do.
    public var finished = false
    /// What the job measured, as of the last publication.
    public var measurements = JobMeasurements()
}

/// One queue's poll thread, as the runner and the control thread see it: the sockets it runs on,
/// one per port, and what it published last.
///
/// The thread publishes its counters and census about every 100 ms, and its stop reports when it
/// ends, under a lock that the per-packet path never takes.
public final class QueueThread: @unchecked Sendable {
    // Unchecked: `thread` is written by start and read by join, on the control thread; the rest
    // is shared through `published` (a lock) and `stopping` (an atomic).
    /// The queue id it runs on, the same on every port.
    public let queue: UInt32
    /// Its position among the run's queues (0, 1, ...).
    public let position: Int
    /// One socket per port (port 0 on the run's interface), all on `queue`.
    public let sockets: [XSKSocket]
    @usableFromInline let programs: [XDPPrograms]
    @usableFromInline let cpu: Int?
    @usableFromInline let settings: PollSettings
    @usableFromInline let logger: Logger
    @usableFromInline let published: LockedValue<QueueThreadSnapshot>
    /// The run's capture, if any.
    @usableFromInline let capture: CaptureWriter?
    @usableFromInline let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?

    init(
        queue: UInt32, position: Int, sockets: [XSKSocket], programs: [XDPPrograms], cpu: Int?, settings: PollSettings,
        capture: CaptureWriter?, logger: Logger
    ) {
        precondition(sockets.count == programs.count && (1...Int(Int8.max)).contains(sockets.count))
        self.queue = queue
        self.position = position
        self.sockets = sockets
        self.programs = programs
        self.cpu = cpu
        self.settings = settings
        self.capture = capture
        self.logger = logger
        published = LockedValue(QueueThreadSnapshot(ports: sockets.map { _ in PortSnapshot() }))
    }

    @usableFromInline
    func start(_ body: @escaping @Sendable () -> Void) {
        thread = JoinableThread(body)
    }

    /// Asks the thread to stop; `join` waits for it.
    public func stop() { stopping.store(true, ordering: .releasing) }

    /// Waits until the thread has ended (after ``stop()``).
    public func join() {
        thread?.join()
        thread = nil
    }

    /// What the thread published last.
    public var snapshot: QueueThreadSnapshot { published.withLock { $0 } }

    @usableFromInline
    func fail(_ why: String) {
        logger.error("queue failed", metadata: ["error": "\(why)"])
        published.withLock { $0.failure = why }
    }

    // MARK: The poll loop's non-generic parts

    @usableFromInline
    var setup: JobSetup {
        JobSetup(
            queue: queue, position: position, interfaces: sockets.map(\.interface.name),
            chunkSize: Int(sockets[0].umem.configuration.chunkSize))
    }

    /// The UMEM's chunk size: the longest buffer a job may build a frame in.
    @usableFromInline var chunkSize: Int { Int(sockets[0].umem.configuration.chunkSize) }

    /// The UMEM's first byte: frames are read at offsets from it.
    @usableFromInline var base: UnsafeMutableRawPointer { sockets[0].umem.pool.base }

    @usableFromInline
    func pinToCPU() {
        guard let cpu else { return }
        let result = cshims_pin_current_thread(Int32(cpu))
        if result != 0 { logger.warning("cannot pin the poll thread", metadata: ["cpu": "\(cpu)", "errno": "\(result)"]) }
    }

    /// Sets the thread up for its wait: with a latency cap, the timer slack to 1 µs and the
    /// wakeups measured (logged with what they mean for the wait); zero without a cap.
    @usableFromInline
    func prepareWait() -> WakeupLatency {
        guard settings.wait == .adaptive, let cap = settings.maxLatency else { return WakeupLatency() }
        let result = cshims_set_timer_slack(1000)
        if result != 0 { logger.warning("cannot lower the poll thread's timer slack", metadata: ["errno": "\(result)"]) }
        let wakeup: WakeupLatency
        do {
            wakeup = try WakeupLatency.measure(context: "poll thread of queue \(queue)")
        } catch {
            // Without a measure the cap can only be kept by never sleeping.
            logger.warning(
                "cannot measure how late a sleeping poll thread wakes: it polls without sleeping to keep the latency cap",
                metadata: ["error": "\(error)"])
            return WakeupLatency(signalled: cap, timed: cap)
        }
        let microseconds = { (duration: Duration) in "\((duration / .microseconds(1) * 10).rounded() / 10)" }
        let measured: Logger.Metadata = [
            "maxLatencyMicroseconds": "\(microseconds(cap))",
            "signalledWakeupP99Microseconds": "\(microseconds(wakeup.signalled))",
            "timedWakeupP99Microseconds": "\(microseconds(wakeup.timed))",
        ]
        if !IdleWait.sleeps(under: cap, wakeup: wakeup) {
            logger.notice("a sleeping poll thread wakes later than the latency cap allows: it polls without sleeping", metadata: measured)
        } else {
            logger.info(
                "latency cap: naps shortened to keep it",
                metadata: measured.merging(["longestNapMicroseconds": "\(microseconds(cap - wakeup.timed))"]) { $1 })
        }
        return wakeup
    }

    /// What the wait's forecast of steady traffic and the latency cap's check found over the
    /// run, logged once at the end.
    @usableFromInline
    func logWait(_ waiting: IdleWait) {
        guard settings.wait == .adaptive else { return }
        let forecast = waiting.forecast
        logger.info(
            "bursts forecast for steady light traffic",
            metadata: [
                "caught": "\(forecast.caught)", "earlyWoke": "\(forecast.early)", "missedWindows": "\(forecast.missed)",
                "leadMicroseconds": "\(forecast.lead / 1000)", "tailMicroseconds": "\(forecast.tail / 1000)",
            ])
        guard let watch = waiting.capWatch else { return }
        logger.info(
            "latency cap checked against the frames taken after a sleep",
            metadata: ["checked": "\(watch.totalChecks)", "laterThanCap": "\(watch.totalMisses)", "holdsPolling": "\(watch.holds)"])
    }

    /// Each port's queue, set up on this thread, its program stamping arrivals if
    /// `stampsArrivals`; nil (failure published, what was made stopped) if one cannot be.
    @usableFromInline
    func makePorts(stampsArrivals: Bool) -> UnsafeMutablePointer<JobPort>? {
        let ports = UnsafeMutablePointer<JobPort>.allocate(capacity: sockets.count)
        for port in sockets.indices {
            do {
                let queue = try XSKQueue(socket: sockets[port], programs: programs[port], configuration: settings.queue, logger: logger)
                if stampsArrivals { try programs[port].setArrivalStamps(true, queue: self.queue) }
                (ports + port).initialize(to: JobPort(queue: queue, capacity: settings.queue.batchSize))
            } catch {
                fail("\(error)")
                finish(ports, port)
                return nil
            }
        }
        return ports
    }

    /// This thread's side of the run's capture; nil without one.
    @usableFromInline
    func makeCaptureProducer() -> CaptureProducer? {
        capture?.producer(position: position, portCount: sockets.count)
    }

    /// Reads each port's MTU and follows a change (about once a second: an ioctl).
    @usableFromInline
    func followMTU(_ ports: UnsafeMutablePointer<JobPort>) {
        for port in sockets.indices {
            do {
                try ports[port].queue.refreshMTU()
            } catch {
                logger.warning("cannot read the MTU", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Publishes every port's counters and census, and the job's measurements when given,
    /// under one lock.
    @usableFromInline
    func publish(
        _ ports: UnsafeMutablePointer<JobPort>, _ count: Int, _ measurements: JobMeasurements? = nil, residency: LatencyHistogram? = nil,
        capture: CaptureProducer? = nil
    ) {
        published.withLock { snapshot in
            for port in 0..<count {
                snapshot.ports[port].statistics = ports[port].queue.statistics
                snapshot.ports[port].census = ports[port].queue.census
                if let capture { snapshot.ports[port].capture = capture.counters[port] }
            }
            if let measurements { snapshot.measurements = measurements }
            if let residency { snapshot.measurements.residency = residency }
        }
    }

    @usableFromInline
    func markFinished() { published.withLock { $0.finished = true } }

    /// The last publication: final counters, the kernel's statistics while the sockets are
    /// still open, then the first `made` ports' queues stopped and their reports; the ports'
    /// memory is freed.
    @usableFromInline
    func finish(_ ports: UnsafeMutablePointer<JobPort>, _ made: Int, capture: CaptureProducer? = nil) {
        publish(ports, made, capture: capture)
        capture?.end()
        for port in 0..<made {
            if settings.residencySampling > 0 || settings.maxLatency != nil { try? programs[port].setArrivalStamps(false, queue: queue) }
            let kernel = try? sockets[port].statistics()
            let report = (ports + port).move().takeQueue().stop(programs: programs[port])
            published.withLock {
                $0.ports[port].kernel = kernel
                $0.ports[port].report = report
            }
        }
        ports.deallocate()
    }
}
