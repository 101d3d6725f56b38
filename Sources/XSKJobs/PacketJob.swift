// The protocol a packet job conforms to: the code a user writes to put their own packet logic
// on xskd's rings. The runner owns everything else (sockets, UMEM and page pool, the fill and
// TX caches, the poll thread and its idle wait, counters, the stop and the drain report) and
// calls the job on that thread: one job value per queue, never shared, so a job needs no lock.
//
// The poll loop is generic over the job (`JobRunner.start`), so every call below is a direct,
// specialised call: no existential, no allocation, no atomic per frame.

/// Packet logic run on a queue's poll thread.
public protocol PacketJob: SendableMetatype {
    /// Frames arrived on `frames.port`. Take each out with `frames.next()` and give it up
    /// through `context`: `release`, `transmit`, `forward` or `keep`. Frames left in the batch
    /// when this returns are released.
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext)

    /// Called once per poll round, before receiving: a job that sends frames of its own (a
    /// generator) builds them here with `context.makeFrame` and `transmit`. Returns how many
    /// it sent, so that the idle wait knows the thread is busy. The default sends nothing.
    mutating func produce(context: inout JobContext) -> Int

    /// The run is stopping: give back every frame kept with `context.keep`. The default has
    /// nothing to give back.
    mutating func stop(context: inout JobContext)

    /// What the job measured (sequences of stamped frames, ...), published with the queue's
    /// counters about every 100 ms, never per frame. The default measures nothing.
    var measurements: JobMeasurements { get }
}

extension PacketJob {
    /// Takes nothing: every frame is released when it returns (a transmit-only job).
    @inlinable
    public mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {}

    @inlinable
    public mutating func produce(context: inout JobContext) -> Int { 0 }

    @inlinable
    public mutating func stop(context: inout JobContext) {}

    @inlinable
    public var measurements: JobMeasurements { JobMeasurements() }
}

/// What a job is told when it is made, on its poll thread.
public struct JobSetup: Sendable {
    /// The queue this job runs on (the same queue id on every port).
    public var queue: UInt32
    /// Its position among the run's queues (0, 1, ...).
    public var position: Int
    /// The interface of each port: port 0 is the run's interface, port 1 the second one, if any.
    public var interfaces: [String]
    /// The UMEM chunk size: the longest buffer `makeFrame` can give.
    public var chunkSize: Int

    /// A setup from its parts; the runner makes one for each queue's job.
    public init(queue: UInt32, position: Int, interfaces: [String], chunkSize: Int) {
        self.queue = queue
        self.position = position
        self.interfaces = interfaces
        self.chunkSize = chunkSize
    }
}
