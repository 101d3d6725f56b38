// A plain OS thread that runs one closure and can be joined: what a queue's poll thread and
// the control socket run on (never the task pool, whose threads must not block or spin).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public final class JoinableThread: @unchecked Sendable {
    // Unchecked: `thread` is written by pthread_create before the initializer returns and only
    // read by `join`.
    private var thread = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread; the closure is released when it returns.
    public init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    /// Waits for the thread to end. Call it once, from one other thread.
    public func join() {
        precondition(!joined, "thread joined twice")
        joined = true
        pthread_join(thread, nil)
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
