// SIGINT and SIGTERM for a program that runs a job: blocked in every thread (so that no poll
// thread is interrupted by them), then waited for on the main thread, which then stops the
// runner and prints its drain report. A daemon with its own signal handling does not need it.

#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM without a signal handler.
public enum TerminationSignals {
    /// Blocks SIGINT and SIGTERM in this thread and in every thread it starts from now on. Call
    /// it first in `main`, before `JobRunner.start`.
    public static func block() {
        var set = Self.set()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits until SIGINT or SIGTERM arrives (returned), or `timeout` passes (nil returned).
    /// The corresponding C functions are `sigwait` (no timeout) and `sigtimedwait`.
    public static func wait(timeout: Duration? = nil) -> Int32? {
        var set = Self.set()
        guard let timeout else {
            var signal: Int32 = 0
            while sigwait(&set, &signal) != 0 {}
            return signal
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return nil }
            let (seconds, attoseconds) = left.components
            var limit = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            let signal = sigtimedwait(&set, nil, &limit)
            if signal > 0 { return signal }
            // EINTR: another signal; EAGAIN: the time is up (the loop checks).
        }
    }

    private static func set() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }
}
