// The data path's system calls, each counted where it is made: sleeping in poll() until a
// frame arrives, a timed nap while a stream flows, and the kicks that wake the kernel's RX
// (recvfrom) and TX (sendto) processing. Per frame, the counts say what the rings cost.

#if canImport(Glibc)
import Glibc
#endif

extension XSKQueue {
    /// Whether the kernel sleeps until woken (need_wakeup) before it fills the RX ring again.
    /// Inlinable: read in every empty polling round, where an opaque getter made the caller
    /// copy the whole queue to pass it.
    @inlinable public var needsReceiveWakeup: Bool { socket.fill.needsWakeup }

    /// Kicks the kernel's RX processing (`recvfrom`): when `needsReceiveWakeup` says it
    /// sleeps, or to busy-poll the device's NAPI in this thread.
    public mutating func wakeReceive() throws(XSKError) {
        counters.receiveWakeups &+= 1
        try socket.wakeReceive()
    }

    /// Kicks the kernel's TX processing (`sendto`); `transmit` does it when the ring asks.
    public mutating func wakeTransmit() throws(XSKError) {
        counters.transmitWakeups &+= 1
        try socket.wakeTransmit()
    }

    /// `sleep(timeout:)` in whole milliseconds.
    public mutating func sleep(timeoutMilliseconds: Int32) throws(XSKError) -> Bool {
        try sleep(timeout: .milliseconds(timeoutMilliseconds))
    }

    /// Sleeps in `ppoll()` until a frame arrives or `timeout` passes, to the nanosecond (a job's
    /// wakeup may be due sooner than poll()'s millisecond); returns whether a frame came.
    public mutating func sleep(timeout: Duration) throws(XSKError) -> Bool {
        counters.sleeps &+= 1
        return try socket.poll(timeout: timeout)
    }

    /// `sleep(timeout:)` until this queue or `other` has a frame (a job with two ports), in
    /// one `ppoll()`. Counted as a sleep of `self`.
    public mutating func sleep(orUntil other: borrowing XSKQueue, timeout: Duration) throws(XSKError) -> Bool {
        counters.sleeps &+= 1
        return try socket.poll(orUntil: other.socket, timeout: timeout)
    }

    /// Naps for `duration` (nanosleep) without waiting on the socket: the kernel's flushes find
    /// no sleeper to wake, and frames gather in the RX ring meanwhile.
    public mutating func nap(_ duration: Duration) {
        counters.naps &+= 1
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        // EINTR: a signal cut the nap short, which is harmless.
        _ = nanosleep(&request, nil)
    }
}
