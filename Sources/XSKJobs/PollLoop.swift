// The poll loop: one thread, one job, its ports' rings. Each round it lets the job produce,
// receives a batch on every port and hands it to the job, puts what the job sent on the TX
// rings as one batch per port, reaps completions, and when a round brings nothing, waits as
// the wait mode says. Counters are published every ~100 ms and the MTU is followed about once
// a second: the clock is read once every 256 rounds or after a sleep, never per frame.
//
// Generic over the job and inlinable, so that the caller's module specialises it for its job
// type: every call to the job is direct.

import Synchronization
import XSK

@usableFromInline
enum PollLoop<Job: PacketJob> {
    @inlinable
    static func run(_ thread: QueueThread, _ makeJob: (JobSetup) throws -> Job) {
        thread.pinToCPU()
        let settings = thread.settings
        var waiting = IdleWait(
            mode: settings.wait, ringSize: thread.sockets[0].rx.size, batchSize: settings.queue.batchSize,
            maxLatency: settings.maxLatency, wakeup: thread.prepareWait())
        // Arrival stamps for residency samples, and for the latency cap's check where it sleeps.
        guard let ports = thread.makePorts(stampsArrivals: settings.residencySampling > 0 || waiting.capWatch != nil) else { return }
        var context = JobContext(
            ports: ports, portCount: thread.sockets.count, base: thread.base, chunkSize: thread.chunkSize,
            capture: thread.makeCaptureProducer())
        var job: Job
        do {
            job = try makeJob(thread.setup)
        } catch {
            thread.fail("the job could not start: \(error)")
            thread.finish(ports, thread.sockets.count, capture: context.capture)
            return
        }
        let frames = UnsafeMutablePointer<ReceivedFrame>.allocate(capacity: thread.settings.queue.batchSize)
        defer { frames.deallocate() }
        var residency = ResidencySampler(every: thread.settings.residencySampling)
        loop(thread, &job, &context, ports, frames, &residency, &waiting)
        job.stop(context: &context)
        context.flushAll()
        thread.publish(ports, 0, job.measurements, residency: residency.histogram)
        thread.finish(ports, thread.sockets.count, capture: context.capture)
    }

    @inlinable
    static func loop(
        _ thread: QueueThread, _ job: inout Job, _ context: inout JobContext, _ ports: UnsafeMutablePointer<JobPort>,
        _ frames: UnsafeMutablePointer<ReceivedFrame>, _ residency: inout ResidencySampler, _ waiting: inout IdleWait
    ) {
        let portCount = context.portCount
        let settings = thread.settings
        let batch = UnsafeMutableBufferPointer(start: frames, count: settings.queue.batchSize)
        var nextPublish = ContinuousClock.now
        var publications = 0
        var loops = 0
        var finishedPublished = false
        while !thread.stopping.load(ordering: .acquiring) {
            // A job that has finished produces no more.
            var busy = context.isFinished ? 0 : job.produce(context: &context)
            var arrived = 0
            for port in 0..<portCount {
                let count = ports[port].queue.receive(into: batch)
                guard count > 0 else { continue }
                waiting.took(firstFrameAt: context.base + Int(truncatingIfNeeded: frames[0].dataOffset))
                residency.received(frames, count: count, base: context.base, ports, portCount)
                if context.capture?.inbound ?? false {
                    context.capture!.record(frames, count: count, port: port, base: context.base, direction: .inbound)
                }
                var received = ReceivedBatch(frames: frames, count: count, base: context.base, port: port)
                job.receive(&received, context: &context)
                received.releaseRemaining(&ports[port].queue)
                busy &+= count
                arrived &+= count
            }
            context.flushAll()
            for port in 0..<portCount where ports[port].queue.transmitOutstanding > 0 {
                ports[port].queue.reapCompletions()
            }
            if residency.pending { residency.reaped(ports, portCount) }
            var slept = false
            if let action = waiting.after(frames: busy, received: arrived) {
                slept = idle(thread, action, &context, ports)
            }
            context.requestedWakeup = nil
            loops &+= 1
            if loops & 255 == 0 || slept, ContinuousClock.now >= nextPublish {
                publications &+= 1
                // The MTU about once a second (an ioctl): off the per-batch path.
                if publications % 10 == 0 { thread.followMTU(ports) }
                residency.published(ports, portCount)
                thread.publish(ports, portCount, job.measurements, residency: residency.histogram, capture: context.capture)
                if context.isFinished, !finishedPublished {
                    finishedPublished = true
                    thread.markFinished()
                }
                nextPublish = .now + .milliseconds(100)
            }
        }
        thread.logWait(waiting)
    }

    /// One empty round: poll on, or sleep (at most until a wakeup the job asked for). Returns
    /// whether it slept.
    @inlinable
    static func idle(
        _ thread: QueueThread, _ action: IdleWait.Action, _ context: inout JobContext, _ ports: UnsafeMutablePointer<JobPort>
    ) -> Bool {
        let portCount = context.portCount
        for port in 0..<portCount { ports[port].queue.kickTransmitIfWaiting() }
        switch action {
        case .keepPolling:
            for port in 0..<portCount where thread.settings.busyPolling || ports[port].queue.needsReceiveWakeup {
                try? ports[port].queue.wakeReceive()
            }
            return false
        case .sleep(.untilFrames), .anticipate:
            // Until frames come on any port (two at most here), or the job's wakeup is due, or a
            // forecast burst's window opens: ppoll is to the nanosecond, so a frame that arrives
            // before the timeout is taken at once.
            var longest: Duration = .milliseconds(100)
            if case .anticipate(let due) = action { longest = min(due, longest) }
            let timeout = context.requestedWakeup.map { min($0, longest) } ?? longest
            if portCount == 1 {
                _ = try? ports[0].queue.sleep(timeout: timeout)
            } else {
                _ = try? ports[0].queue.sleep(orUntil: ports[1].queue, timeout: timeout)
            }
            return true
        case .sleep(.nap(let duration)):
            ports[0].queue.nap(context.requestedWakeup.map { min($0, duration) } ?? duration)
            return true
        }
    }
}
