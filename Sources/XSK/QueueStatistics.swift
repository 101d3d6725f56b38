// A queue's counters, kept as drivers keep them: plain integers in the poll thread's memory,
// one increment per call (never per frame where a batch total will do), read by whoever the
// poll thread publishes them to.

extension XSKQueue {
    /// Counters kept as drivers keep them, in plain memory on the poll thread.
    public struct Statistics: Sendable, Equatable {
        /// Frames received: taken from the RX ring and handed to the application.
        public var rxPackets: UInt64 = 0
        /// Bytes of the frames received.
        public var rxBytes: UInt64 = 0
        /// Frames queued on the TX ring. Counted where `txBytes` is: the completion ring names
        /// buffers, not lengths, so packets and bytes are both counted when they are queued;
        /// `completions` says how many the kernel has sent.
        public var txPackets: UInt64 = 0
        /// Bytes of the frames queued on the TX ring.
        public var txBytes: UInt64 = 0
        /// Fragments posted to the fill ring, ever.
        public var fillPosted: UInt64 = 0
        /// Of those, buffers the application gave back that went on the fill ring again as they
        /// were (aligned chunks), not carved afresh.
        public var fillRecycled: UInt64 = 0
        /// Times a refill found no fragment to post (the pool ran dry).
        public var fillShortfalls: UInt64 = 0
        /// Times a receive found the fill ring empty (the kernel had nothing to receive into).
        public var fillRingEmptyEvents: UInt64 = 0
        /// Frames given back by the application.
        public var released: UInt64 = 0
        /// Frames the application handed to a TX ring (this queue's or another's).
        public var forwarded: UInt64 = 0
        /// TX buffers the completion ring gave back: frames the kernel sent (a chain's every
        /// buffer comes back on its own).
        public var completions: UInt64 = 0
        /// Received frames of more than one buffer (each also one of `rxPackets`).
        public var rxChains: UInt64 = 0
        /// The buffers of those chains.
        public var rxChainBuffers: UInt64 = 0
        /// Chains queued on the TX ring (each also one of `txPackets`).
        public var txChains: UInt64 = 0
        /// The buffers of those chains: each comes back as one completion.
        public var txChainBuffers: UInt64 = 0
        /// Received chains that were not whole or valid (a buffer not ours, a length past its
        /// buffer, more buffers than `FrameChain.receiveLimit`): never handed to the
        /// application; every buffer of them that was ours went back to the fill source.
        public var chainsDiscarded: UInt64 = 0
        /// RX or completion addresses that were not buffers this queue gave the kernel:
        /// counted and skipped, never followed.
        public var invalidAddresses: UInt64 = 0
        /// RX descriptors for our buffers whose length runs past the buffer: counted, the frame
        /// skipped, the buffer taken back.
        public var invalidLengths: UInt64 = 0
        /// Times the application asked for a TX buffer and the pool had none.
        public var transmitAllocationFailures: UInt64 = 0
        /// Frames the application asked to send that the TX ring could not take, even after
        /// completions were reaped: given back, not sent.
        public var transmitRingFullDrops: UInt64 = 0
        /// Receives that took at least one frame: rxPackets / receiveBatches is the mean RX batch.
        public var receiveBatches: UInt64 = 0
        /// Transmits that queued at least one frame: txPackets / transmitBatches is the mean TX batch.
        public var transmitBatches: UInt64 = 0
        /// Times the poll thread slept in `poll()` until a frame came. With `naps`,
        /// `receiveWakeups` and `transmitWakeups`, the data path's system calls: per frame, they
        /// say what the rings cost.
        public var sleeps: UInt64 = 0
        /// Timed naps (nanosleep) of the adaptive wait while a stream flows.
        public var naps: UInt64 = 0
        /// RX wakeups (`recvfrom`), busy-polling calls among them.
        public var receiveWakeups: UInt64 = 0
        /// TX wakeups (`sendto`).
        public var transmitWakeups: UInt64 = 0
        /// All counts at zero.
        public init() {}

        /// Buffers received: one per frame, a chain's every buffer.
        @inlinable public var rxBuffers: UInt64 { rxPackets &+ rxChainBuffers &- rxChains }
        /// Buffers queued on the TX ring: one per frame, a chain's every buffer (each comes back
        /// as one completion).
        @inlinable public var txBuffers: UInt64 { txPackets &+ txChainBuffers &- txChains }
    }
}
