// One queue's poll thread: it owns the queue's `XSKQueue` (rings and buffers) as a local, runs
// the job on every batch, and publishes its counters for the control thread every ~100 ms,
// never per packet. How it waits when idle: spin (lowest latency, burns its core), sleep in
// poll() (wakes on the kernel's signal), or adaptive (spin while frames flow, sleep when idle).

import CShims
import Logging
import PageFrag
import Synchronization
import SystemCalls
import XSK

#if canImport(Glibc)
import Glibc
#endif

/// The counters a worker publishes, and its stop report at the end.
struct WorkerSnapshot: Sendable {
    var statistics = XSKQueue.Statistics()
    var census: QueueCensus?
    var kernel: XDPStatistics?
    var report: StopReport?
    /// The forward job's other port.
    var peerStatistics: XSKQueue.Statistics?
    var peerReport: StopReport?
    var failure: String?
}

final class QueueWorker: @unchecked Sendable {
    // Unchecked: `thread` is written by start and read by join, on the control thread; the rest is shared
    // through `published` (a lock) and `stopping` (an atomic).
    let socket: XSKSocket
    let programs: XDPPrograms
    let job: Job
    let wait: WaitMode
    let cpu: Int?
    let configuration: XSKQueue.Configuration
    let generate: GenerateOptions
    /// With busy polling on, every empty round calls recvfrom: that call is what runs the
    /// device's NAPI in this thread (copy mode never asks for a wakeup by itself).
    let busyPolling: Bool
    /// The forward job's other port: its socket (sharing the UMEM) and program.
    let peer: (socket: XSKSocket, programs: XDPPrograms)?
    let logger: Logger
    let published = LockedValue(WorkerSnapshot())
    let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?

    init(
        socket: XSKSocket, programs: XDPPrograms, job: Job, wait: WaitMode, cpu: Int?,
        configuration: XSKQueue.Configuration, generate: GenerateOptions = .init(), busyPolling: Bool = false,
        peer: (socket: XSKSocket, programs: XDPPrograms)? = nil, logger: Logger
    ) {
        self.generate = generate
        self.busyPolling = busyPolling
        self.peer = peer
        self.socket = socket
        self.programs = programs
        self.job = job
        self.wait = wait
        self.cpu = cpu
        self.configuration = configuration
        self.logger = logger
    }

    func start() {
        thread = JoinableThread { [self] in run() }
    }

    func stop() { stopping.store(true, ordering: .releasing) }

    func join() { thread?.join() }

    private func run() {
        if let cpu {
            let result = cshims_pin_current_thread(Int32(cpu))
            if result != 0 { logger.warning("cannot pin the poll thread", metadata: ["cpu": "\(cpu)", "errno": "\(result)"]) }
        }
        var queue: XSKQueue
        do {
            queue = try XSKQueue(socket: socket, programs: programs, configuration: configuration, logger: logger)
        } catch {
            published.withLock { $0.failure = "\(error)" }
            logger.error("queue set-up failed", metadata: ["error": "\(error)"])
            return
        }
        let batch = configuration.batchSize
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: batch)
        defer { frames.deallocate() }
        if job == .forward, let peer {
            let peerReport = runForwarder(&queue, peer: peer, frames)
            finish(queue, peerReport: peerReport)
            return
        }
        if job == .generate {
            runGenerator(&queue, frames)
            finish(queue)
            return
        }
        var waiting = IdleWait(mode: wait, ringSize: socket.rx.size, batchSize: batch)
        var nextPublish = ContinuousClock.now
        var loops = 0
        while !stopping.load(ordering: .acquiring) {
            var slept = false
            let count = queue.receive(into: frames)
            if let action = waiting.after(frames: count) {
                slept = idle(&queue, action)
            } else {
                process(count, &queue, frames)
            }
            loops &+= 1
            // The clock is read once every 256 loops, busy or polling, and after every sleep
            // (a sleeping thread loops slowly); the counters are published every 100 ms.
            if loops & 255 == 0 || slept, ContinuousClock.now >= nextPublish {
                publish(&queue)
                nextPublish = .now + .milliseconds(100)
            }
        }
        finish(queue)
    }

    /// The last publication: final counters, the kernel's statistics while the socket is still
    /// open, then the queue stopped and its report.
    private func finish(_ queue: consuming XSKQueue, peerReport: StopReport? = nil) {
        publish(&queue)
        let kernel = try? socket.statistics()
        let report = queue.stop(programs: programs)
        published.withLock {
            $0.kernel = kernel
            $0.report = report
            $0.peerReport = peerReport
        }
    }

    @inline(__always)
    private func process(_ count: Int, _ queue: inout XSKQueue, _ frames: UnsafeMutableBufferPointer<ReceivedFrame>) {
        switch job {
        case .drop:
            for index in 0..<count { queue.release(frames[index]) }
        case .generate, .forward:
            // The generator keeps nothing it receives; the forwarder has its own loop.
            for index in 0..<count { queue.release(frames[index]) }
        case .reflect:
            let base = queue.pool.base
            for index in 0..<count where frames[index].length >= 12 {
                swapMACAddresses(base + Int(frames[index].dataOffset))
            }
            var sent = 0
            while sent < count {
                let queued = queue.transmit(UnsafeBufferPointer(rebasing: frames[sent..<count]))
                if queued == 0 {
                    // TX ring full: make room from completions; give up on what still does not fit.
                    if queue.reapCompletions() == 0 {
                        for index in sent..<count { queue.release(frames[index]) }
                        break
                    }
                }
                sent += queued
            }
            // Sent frames belong to the TX ring now, not to the job.
            queue.forwarded(sent)
            queue.reapCompletions()
        }
    }

    /// The forward job: one thread owns both ports' queues, so each TX ring has one producer
    /// and no lock is needed. A frame received on one port is sent out of the other from the
    /// same UMEM buffer; the other port's completion ring frees it.
    private func runForwarder(
        _ queue: inout XSKQueue, peer: (socket: XSKSocket, programs: XDPPrograms),
        _ frames: UnsafeMutableBufferPointer<ReceivedFrame>
    ) -> StopReport? {
        var other: XSKQueue
        do {
            other = try XSKQueue(socket: peer.socket, programs: peer.programs, configuration: configuration, logger: logger)
        } catch {
            published.withLock { $0.failure = "\(error)" }
            return nil
        }
        var waiting = IdleWait(mode: wait, ringSize: socket.rx.size, batchSize: configuration.batchSize)
        var nextPublish = ContinuousClock.now
        var loops = 0
        while !stopping.load(ordering: .acquiring) {
            let forward = Self.forward(from: &queue, to: &other, frames)
            let back = Self.forward(from: &other, to: &queue, frames)
            loops &+= 1
            var slept = false
            if let action = waiting.after(frames: forward + back) {
                queue.reapCompletions()
                other.reapCompletions()
                switch action {
                case .keepPolling:
                    if busyPolling || queue.needsReceiveWakeup { try? queue.wakeReceive() }
                    if busyPolling || other.needsReceiveWakeup { try? other.wakeReceive() }
                case .sleep(.untilFrames):
                    // Both ports idle: sleep until either has something.
                    _ = try? queue.sleep(orUntil: other, timeoutMilliseconds: 100)
                    slept = true
                case .sleep(.nap(let duration)):
                    queue.nap(duration)
                    slept = true
                }
            }
            // As in the single-queue loop: the clock every 256 loops, busy or not, or after a
            // sleep (a forwarder that never idles publishes too).
            if loops & 255 == 0 || slept, ContinuousClock.now >= nextPublish {
                publish(&queue)
                let peerStatistics = other.statistics
                published.withLock { $0.peerStatistics = peerStatistics }
                nextPublish = .now + .milliseconds(100)
            }
        }
        return other.stop(programs: peer.programs)
    }

    /// Moves one batch from `source`'s RX ring to `destination`'s TX ring; what the TX ring
    /// cannot take is dropped (its buffers go straight back).
    private static func forward(
        from source: inout XSKQueue, to destination: inout XSKQueue, _ frames: UnsafeMutableBufferPointer<ReceivedFrame>
    ) -> Int {
        let count = source.receive(into: frames)
        guard count > 0 else { return 0 }
        var sent = destination.transmit(UnsafeBufferPointer(rebasing: frames[0..<count]))
        if sent < count {
            destination.reapCompletions()
            sent += destination.transmit(UnsafeBufferPointer(rebasing: frames[sent..<count]))
        }
        source.forwarded(sent)
        for index in sent..<count { source.release(frames[index]) }
        destination.reapCompletions()
        return count
    }

    /// The generate job: fills TX fragments from a template, stamps each with its sequence
    /// number, and keeps the TX ring full (or paced to the rate), freeing what completes.
    private func runGenerator(_ queue: inout XSKQueue, _ frames: UnsafeMutableBufferPointer<ReceivedFrame>) {
        let template = generate.template()
        let size = template.count
        let limit = generate.count ?? Int.max
        let interval: Duration? = generate.rate > 0 ? .nanoseconds(Int64(1e9 / generate.rate)) : nil
        let clock = ContinuousClock()
        var due = clock.now
        var sequence: UInt64 = 0
        var nextPublish = clock.now
        let base = queue.pool.base
        while !stopping.load(ordering: .acquiring) {
            queue.reapCompletions()
            var allowed = min(frames.count, limit - Int(sequence))
            if let interval {
                let now = clock.now
                if now < due {
                    allowed = 0
                } else {
                    // Frames due since the last batch, at most one batch at a time.
                    let late = (now - due) / interval
                    allowed = min(allowed, Int(late) + 1)
                    due += interval * allowed
                }
            }
            var built = 0
            while built < allowed, let fragment = queue.allocateTransmitBuffer(length: size) {
                let bytes = base + Int(fragment.offset)
                template.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: size) }
                bytes.storeBytes(of: (sequence &+ UInt64(built)).littleEndian, toByteOffset: 14, as: UInt64.self)
                frames[built] = ReceivedFrame(fragment: fragment, address: fragment.offset, length: UInt32(size))
                built += 1
            }
            var queued = 0
            while queued < built {
                let sent = queue.transmit(UnsafeBufferPointer(rebasing: frames[queued..<built]))
                if sent == 0 {
                    try? queue.wakeTransmit()
                    if queue.reapCompletions() == 0 { usleep(50) }
                    if stopping.load(ordering: .relaxed) { break }
                }
                queued += sent
            }
            // What the ring never took goes back to the TX cache.
            for index in queued..<built { queue.releaseTransmitBuffer(frames[index].fragment) }
            sequence &+= UInt64(queued)
            if built == 0 {
                if Int(sequence) >= limit, queue.statistics.completions >= UInt64(sequence) {
                    // Everything sent and completed: wait for the stop, without spinning.
                    usleep(10_000)
                } else if interval != nil {
                    usleep(10)
                }
            }
            if clock.now >= nextPublish {
                publish(&queue)
                nextPublish = clock.now + .milliseconds(100)
            }
        }
    }

    /// One empty round: poll on, or sleep. Returns whether it slept.
    private func idle(_ queue: inout XSKQueue, _ action: IdleWait.Action) -> Bool {
        if job == .reflect { queue.reapCompletions() }
        switch action {
        case .keepPolling:
            if busyPolling || queue.needsReceiveWakeup { try? queue.wakeReceive() }
            return false
        case .sleep(.untilFrames):
            _ = try? queue.sleep(timeoutMilliseconds: 100)
            return true
        case .sleep(.nap(let duration)):
            queue.nap(duration)
            return true
        }
    }

    private func publish(_ queue: inout XSKQueue) {
        let statistics = queue.statistics
        let census = queue.census
        published.withLock {
            $0.statistics = statistics
            $0.census = census
        }
    }
}
