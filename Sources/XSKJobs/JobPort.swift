// One port of a job: a queue (socket, rings, fill source, TX cache) and the frames the job has
// asked to send on it during this round, staged so that the TX ring takes them as one batch
// (one reserve, one submit, at most one wakeup) however the job hands them over.

import XSK

@usableFromInline
struct JobPort: ~Copyable {
    @usableFromInline var queue: XSKQueue
    /// Frames to send at the end of the round, in order.
    @usableFromInline let staged: UnsafeMutablePointer<ReceivedFrame>
    /// For each staged frame: the port it was received on, or -1 for a frame built here.
    @usableFromInline let origins: UnsafeMutablePointer<Int8>
    @usableFromInline let capacity: Int
    @usableFromInline var stagedCount = 0

    @usableFromInline
    init(queue: consuming XSKQueue, capacity: Int) {
        self.queue = queue
        self.capacity = capacity
        staged = .allocate(capacity: capacity)
        origins = .allocate(capacity: capacity)
    }

    /// Ends the port: its staging memory is freed (nothing may be staged) and its queue is
    /// the caller's to stop. (No deinit, so that the queue can be moved out.)
    @usableFromInline
    consuming func takeQueue() -> XSKQueue {
        assert(stagedCount == 0, "frames staged at the stop")
        staged.deallocate()
        origins.deallocate()
        return queue
    }
}
