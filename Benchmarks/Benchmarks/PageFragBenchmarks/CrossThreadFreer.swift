// A thread that frees fragments handed to it through a single-producer single-consumer ring:
// the shape of a completion ring processed on another core.

import Glibc
import PageFrag
import Synchronization

final class CrossThreadFreer: @unchecked Sendable {
    let pool: PagePool
    let capacity = 1024
    let slots: UnsafeMutablePointer<Fragment>
    let head = Atomic<Int>(0)  // written by the producer
    let tail = Atomic<Int>(0)  // written by the consumer
    let running = Atomic<Bool>(true)
    private var thread = pthread_t()

    init(pool: PagePool) {
        self.pool = pool
        slots = .allocate(capacity: capacity)
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let freer = Unmanaged<CrossThreadFreer>.fromOpaque(context!).takeRetainedValue()
            freer.run()
            return nil
        }, context)
    }

    /// Hands a fragment to the other thread, waiting while the ring is full.
    @inline(__always)
    func push(_ fragment: Fragment) {
        let position = head.load(ordering: .relaxed)
        while position - tail.load(ordering: .acquiring) == capacity { sched_yield() }
        slots[position & (capacity - 1)] = fragment
        head.store(position + 1, ordering: .releasing)
    }

    /// Waits until the other thread has freed everything pushed so far.
    func waitUntilEmpty() {
        while tail.load(ordering: .acquiring) != head.load(ordering: .relaxed) { sched_yield() }
    }

    func stop() {
        waitUntilEmpty()
        running.store(false, ordering: .releasing)
        pthread_join(thread, nil)
    }

    private func run() {
        var position = 0
        while running.load(ordering: .acquiring) {
            let available = head.load(ordering: .acquiring)
            if available == position {
                sched_yield()
                continue
            }
            while position < available {
                pool.free(slots[position & (capacity - 1)])
                position += 1
            }
            tail.store(position, ordering: .releasing)
        }
    }
}
