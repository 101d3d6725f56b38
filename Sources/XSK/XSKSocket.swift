// An AF_XDP socket bound to one queue of one interface: its RX and TX rings, and the fill and
// completion rings through which it shares its UMEM. One socket per (interface, queue); the
// first socket of a UMEM inherits the UMEM's own fill and completion rings, every other one
// gets its own (libxdp's shared-UMEM mode), so any queue of any interface can send what another
// received, without a copy.

import CShims
import Logging
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// An AF_XDP socket bound to one queue of one interface: its RX and TX rings, and the fill and
/// completion rings through which it shares its UMEM.
///
/// The first socket of a UMEM is the UMEM's own and works the UMEM's fill and completion rings;
/// every later one on a new queue gets its own pair (libxdp's shared-UMEM mode), so any queue of
/// any interface can send what another received, without a copy.
public final class XSKSocket: @unchecked Sendable {
    // Unchecked: the rings are used by one poll thread; the rest is immutable after init.

    /// How a socket binds: whether the NIC moves frames to and from the UMEM itself, or the kernel
    /// copies them.
    public enum BindMode: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Zero-copy when the driver supports it, else copy (logged).
        case automatic = "auto"
        /// The kernel copies frames between its own buffers and the UMEM (`XDP_COPY`): any driver.
        case copy
        /// The driver DMAs frames into and out of the UMEM directly (`XDP_ZEROCOPY`).
        case zeroCopy = "zero-copy"
        /// The mode's name.
        public var description: String { rawValue }
    }

    /// What a socket binds to, and how: its interface and queue, ring sizes and modes.
    public struct Configuration: Sendable {
        /// The interface's name.
        public var interface: String
        /// The queue id to bind to.
        public var queue: UInt32
        /// RX ring size (a power of two).
        public var rxSize: UInt32 = 2048
        /// TX ring size (a power of two).
        public var txSize: UInt32 = 2048
        /// How to bind: zero-copy, copy, or zero-copy when the driver supports it.
        public var bindMode: BindMode = .automatic
        /// Ask the kernel to set need_wakeup flags, so that syscalls happen only when it is idle.
        public var needWakeup = true
        /// Busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET), off when nil.
        public var busyPoll: BusyPoll?
        /// How often to retry a bind that fails with EBUSY (the kernel unbinds asynchronously).
        public var busyRetries = 20
        /// Frames longer than one buffer as descriptor chains (`XDP_USE_SG`, Linux 6.6+):
        /// `.automatic` binds single-buffer, with a log line, where the kernel or driver has no
        /// multi-buffer AF_XDP; `.on` fails there instead. A socket sharing a UMEM follows the
        /// UMEM's own socket, whatever it asks.
        public var multiBuffer: MultiBuffer = .off

        /// A socket on `queue` of `interface`, with every other setting at its default.
        public init(interface: String, queue: UInt32) {
            self.interface = interface
            self.queue = queue
        }
    }

    /// Whether a socket takes frames longer than one buffer, as chains of descriptors.
    public enum MultiBuffer: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Multi-buffer where the kernel and driver allow it, else single-buffer (logged).
        case automatic = "auto"
        /// Multi-buffer or fail.
        case on
        /// Single-buffer: a frame must fit one buffer (the XDP program passes longer ones to
        /// the kernel).
        case off
        /// The setting's name.
        public var description: String { rawValue }
    }

    /// Busy-polling settings: how long a call on the socket busy-polls the device, and how many
    /// frames one busy poll may process.
    public struct BusyPoll: Sendable, Equatable {
        /// How long a call on the socket busy-polls the device, in µs (`SO_BUSY_POLL`).
        public var microseconds: Int32 = 20
        /// The most frames one busy poll processes (`SO_BUSY_POLL_BUDGET`).
        public var budget: Int32 = 64
        /// Settings of `microseconds` per call and `budget` frames per poll.
        public init(microseconds: Int32 = 20, budget: Int32 = 64) {
            self.microseconds = microseconds
            self.budget = budget
        }
    }

    /// The UMEM the socket shares; the socket keeps it alive.
    public let umem: Umem
    /// The interface it is bound to.
    public let interface: NetworkInterface
    /// The queue id it is bound to.
    public let queue: UInt32
    /// The mode the kernel bound: `.copy` or `.zeroCopy`.
    public let boundMode: BindMode
    /// The socket's file descriptor: what the XSK map of ``XDPPrograms`` takes.
    public let descriptor: Int32
    /// True when another socket of the UMEM bound this queue first: this one then has no fill
    /// and completion rings of its own, and that socket's serve both (one pair per queue).
    public let sharesQueueRings: Bool
    /// True for the UMEM's own socket, which stays bound until the UMEM closes.
    public let isUmemSocket: Bool
    /// True when the socket is bound multi-buffer: a received frame may come as a chain of
    /// descriptors, and a chain may be sent.
    public let isMultiBuffer: Bool
    private let rxStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let txStorage: UnsafeMutablePointer<xsk_ring_prod>
    private let fillStorage: UnsafeMutablePointer<xsk_ring_prod>
    private let completionStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let mappings: [cshims_ring_mapping]
    private let queueKey: Umem.QueueKey
    private let logger: Logger

    /// Creates and binds the socket, in the calling thread's network namespace.
    ///
    /// It does not load any XDP program: put `descriptor` in the XSK map of `XDPPrograms` to
    /// start receiving. The first socket of a UMEM is the UMEM's own; later ones share it
    /// (`XDP_SHARED_UMEM`), with fill and completion rings of their own on a new queue.
    public init(umem: Umem, configuration: Configuration, logger: Logger) throws(XSKError) {
        let interface = try NetworkInterface(named: configuration.interface)
        guard umem.isOpen else {
            throw .invalidArgument("the UMEM's own socket is closed; make a new UMEM over the same pool")
        }
        for (name, size) in [("RX", configuration.rxSize), ("TX", configuration.txSize)]
        where size == 0 || size.nonzeroBitCount != 1 {
            throw .invalidArgument("\(name) ring size \(size) must be a power of two")
        }
        var logger = logger
        logger[metadataKey: "interface"] = "\(interface)"
        logger[metadataKey: "queue"] = "\(configuration.queue)"
        let key = Umem.QueueKey(interfaceIndex: interface.index, queue: configuration.queue)
        let (isUmemSocket, sharesQueue) = umem.sockets.withLock { book -> (Bool, Bool) in
            let own = !book.ownSocketTaken
            if own {
                book.ownSocketTaken = true
                book.ownSocketQueue = key
            }
            let shares = !own && (book.socketsPerQueue[key, default: 0] > 0 || book.ownSocketQueue == key)
            book.socketsPerQueue[key, default: 0] += 1
            return (own, shares)
        }
        let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        rx.initialize(to: xsk_ring_cons())
        let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        tx.initialize(to: xsk_ring_prod())
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        completion.initialize(to: xsk_ring_cons())
        var mappings: [cshims_ring_mapping] = []
        var descriptor: Int32 = -1

        let mode: BindMode
        var multiBuffer = false
        do throws(SystemCallError) {
            if isUmemSocket {
                descriptor = umem.descriptor
            } else {
                descriptor = try SystemCall.checked("socket(AF_XDP)", context: "\(interface) queue \(configuration.queue)") {
                    socket(AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                }
                if !sharesQueue {
                    var fillMapping = cshims_ring_mapping()
                    var completionMapping = cshims_ring_mapping()
                    let result = cshims_xsk_create_fill_completion(
                        descriptor, umem.configuration.fillSize, umem.configuration.completionSize, fill, completion,
                        &fillMapping, &completionMapping)
                    guard result == 0 else {
                        throw SystemCallError(
                            call: "XDP_UMEM_FILL_RING/XDP_UMEM_COMPLETION_RING", errno: -result,
                            context: "\(interface) queue \(configuration.queue)")
                    }
                    mappings += [fillMapping, completionMapping]
                }
            }
            var rxMapping = cshims_ring_mapping()
            var txMapping = cshims_ring_mapping()
            let result = cshims_xsk_create_rx_tx(
                descriptor, configuration.rxSize, configuration.txSize, rx, tx, &rxMapping, &txMapping)
            guard result == 0 else {
                throw SystemCallError(
                    call: "XDP_RX_RING/XDP_TX_RING", errno: -result, context: "\(interface) queue \(configuration.queue)")
            }
            mappings += [rxMapping, txMapping]
            (mode, multiBuffer) = try Self.bind(
                descriptor: descriptor, interface: interface, configuration: configuration,
                sharedUmem: isUmemSocket ? nil : umem.descriptor, logger: logger)
            if isUmemSocket {
                umem.sockets.withLock { $0.multiBuffer = multiBuffer }
            } else {
                multiBuffer = umem.sockets.withLock { $0.multiBuffer }
            }
            if mode == .copy, configuration.txSize > 0 {
                Self.raiseTransmitBudget(to: configuration.txSize, descriptor: descriptor, logger: logger)
            }
            if let busyPoll = configuration.busyPoll {
                try Self.enableBusyPoll(busyPoll, descriptor: descriptor, context: "\(interface) queue \(configuration.queue)")
                logger.info("busy polling on", metadata: ["microseconds": "\(busyPoll.microseconds)", "budget": "\(busyPoll.budget)"])
            }
        } catch {
            for mapping in mappings { munmap(mapping.base, mapping.length) }
            if !isUmemSocket, descriptor >= 0 { Glibc.close(descriptor) }
            rx.deallocate()
            tx.deallocate()
            fill.deallocate()
            completion.deallocate()
            umem.sockets.withLock { $0.socketsPerQueue[key, default: 1] -= 1 }
            throw .system(error)
        }

        self.umem = umem
        self.interface = interface
        self.queue = configuration.queue
        self.descriptor = descriptor
        self.boundMode = mode
        self.isMultiBuffer = multiBuffer
        self.isUmemSocket = isUmemSocket
        self.sharesQueueRings = sharesQueue
        self.queueKey = key
        self.logger = logger
        self.mappings = mappings
        rxStorage = rx
        txStorage = tx
        // The UMEM's own socket works the UMEM's fill and completion rings.
        fillStorage = isUmemSocket ? umem.fillStorage : fill
        completionStorage = isUmemSocket ? umem.completionStorage : completion
        if isUmemSocket {
            fill.deallocate()
            completion.deallocate()
        }
        logger.info(
            "AF_XDP socket bound",
            metadata: [
                "mode": "\(mode)", "fd": "\(descriptor)", "sharesUmem": "\(!isUmemSocket)", "multiBuffer": "\(multiBuffer)",
            ])
    }

    /// Binds, retrying EBUSY (a previous socket's queue is released asynchronously by the
    /// kernel), in automatic mode falling back from zero-copy to copy, and with multi-buffer
    /// `.automatic`, from multi-buffer to single-buffer. A failed bind leaves the socket and its
    /// rings as they were, so every retry reuses them. Returns the mode bound and whether the
    /// socket asked for multi-buffer (a sharing socket asks nothing: it follows the UMEM's).
    private static func bind(
        descriptor: Int32, interface: NetworkInterface, configuration: Configuration, sharedUmem: Int32?, logger: Logger
    ) throws(SystemCallError) -> (BindMode, Bool) {
        var candidates: [BindMode] = configuration.bindMode == .automatic ? [.zeroCopy, .copy] : [configuration.bindMode]
        var multiBuffer = sharedUmem == nil && configuration.multiBuffer != .off
        var busyAttempts = 0
        while let mode = candidates.first {
            var flags: UInt16 = 0
            if sharedUmem == nil {
                // A socket sharing a UMEM takes its mode, wakeup and multi-buffer setting from
                // the UMEM's socket; the kernel refuses flags on it.
                flags = UInt16(mode == .zeroCopy ? XDP_ZEROCOPY : XDP_COPY)
                if configuration.needWakeup { flags |= UInt16(XDP_USE_NEED_WAKEUP) }
                if multiBuffer { flags |= cshims_xdp_use_sg() }
            }
            let result = cshims_xsk_bind(descriptor, interface.index, configuration.queue, flags, sharedUmem ?? -1)
            if result == 0 {
                var options: UInt32 = 0
                _ = cshims_xsk_options(descriptor, &options)
                return (options & UInt32(XDP_OPTIONS_ZEROCOPY) != 0 ? .zeroCopy : .copy, multiBuffer)
            }
            let error = -result
            if error == EBUSY, busyAttempts < configuration.busyRetries {
                busyAttempts += 1
                logger.debug("queue busy, retrying bind", metadata: ["attempt": "\(busyAttempts)"])
                usleep(50_000)
                continue
            }
            // A kernel before 6.6 knows no XDP_USE_SG (EINVAL); a zero-copy driver without
            // multi-buffer refuses it (EOPNOTSUPP). Zero-copy without chains is tried before
            // copy mode with them: the driver's own path matters more than jumbo frames.
            if multiBuffer, configuration.multiBuffer == .automatic, error == EINVAL || error == EOPNOTSUPP {
                logger.notice(
                    "multi-buffer AF_XDP not supported here; binding single-buffer (frames longer than one buffer go to the kernel)",
                    metadata: ["bindMode": "\(mode)", "error": "\(SystemCallError.name(ofErrno: error))"])
                multiBuffer = false
                continue
            }
            if configuration.bindMode == .automatic, mode == .zeroCopy, sharedUmem == nil,
                error == EOPNOTSUPP || error == EINVAL || error == EPROTONOSUPPORT
            {
                logger.notice(
                    "zero-copy not supported by the driver; binding in copy mode",
                    metadata: ["error": "\(SystemCallError.name(ofErrno: error))"])
                candidates.removeFirst()
                multiBuffer = configuration.multiBuffer != .off
                continue
            }
            throw SystemCallError(
                call: "bind(AF_XDP, \(mode)\(multiBuffer ? ", multi-buffer" : ""))", errno: error,
                context: "interface \(interface) queue \(configuration.queue)",
                hint: bindHint(error, mode: mode, multiBuffer: multiBuffer))
        }
        preconditionFailure("no bind mode left to try")
    }

    static func bindHint(_ error: Int32, mode: BindMode, multiBuffer: Bool = false) -> String? {
        switch error {
        case EINVAL where multiBuffer: "the kernel (before 6.6) or driver has no multi-buffer AF_XDP; use --multi-buffer off"
        case EOPNOTSUPP where multiBuffer: "the driver has no multi-buffer AF_XDP in this mode; use --multi-buffer off"
        case EOPNOTSUPP where mode == .zeroCopy: "the driver has no zero-copy AF_XDP; bind in copy mode"
        case EBUSY: "another AF_XDP socket (another xskd?) is bound to this queue"
        case EINVAL: "the queue does not exist on this interface, or the ring sizes are refused"
        case EPERM, EACCES: "AF_XDP sockets need root (CAP_NET_RAW)"
        default: nil
        }
    }

    /// Copy mode sends at most 32 frames per `sendto` by default (the kernel's TX_BATCH_SIZE),
    /// so a batch of 64 needs two kicks and a full ring dozens. Since Linux 6.17 the socket can
    /// take up to its TX ring size per call (XDP_MAX_TX_SKB_BUDGET); older kernels keep 32.
    private static func raiseTransmitBudget(to entries: UInt32, descriptor: Int32, logger: Logger) {
        var budget = entries
        if setsockopt(descriptor, SOL_XDP, cshims_xdp_max_tx_skb_budget(), &budget, socklen_t(MemoryLayout<UInt32>.size)) == 0 {
            logger.debug("copy-mode TX budget raised", metadata: ["frames per sendto": "\(budget)"])
        } else {
            logger.debug("copy-mode TX budget stays at the kernel's 32 frames per sendto", metadata: ["errno": "\(SystemCallError.name(ofErrno: errno))"])
        }
    }

    private static func enableBusyPoll(_ busyPoll: BusyPoll, descriptor: Int32, context: String) throws(SystemCallError) {
        for (name, option, value) in [
            ("SO_PREFER_BUSY_POLL", cshims_so_prefer_busy_poll(), Int32(1)),
            ("SO_BUSY_POLL", SO_BUSY_POLL, busyPoll.microseconds),
            ("SO_BUSY_POLL_BUDGET", cshims_so_busy_poll_budget(), busyPoll.budget),
        ] {
            var value = value
            _ = try SystemCall.checked("setsockopt(\(name))", context: context,
                hint: { $0 == EPERM ? "busy-poll budgets above the default need CAP_NET_ADMIN" : nil }) {
                setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
            }
        }
    }

    /// Unbinds and closes the socket and unmaps its rings; the kernel then lets go of every
    /// buffer it held for this socket. For the UMEM's own socket this closes the UMEM's socket
    /// too: sockets already sharing the UMEM keep working, but the UMEM takes no new ones.
    /// Idempotent; call it from the thread that owns the socket (deinit calls it too).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        for mapping in mappings { munmap(mapping.base, mapping.length) }
        if isUmemSocket {
            umem.closeOwnSocket()
        } else {
            Glibc.close(descriptor)
        }
        umem.sockets.withLock { $0.socketsPerQueue[queueKey, default: 1] -= 1 }
        logger.info("AF_XDP socket closed")
    }

    private var isClosed = false
    /// A datagram socket made in the interface's network namespace with this socket, for link
    /// queries from any thread later (an AF_XDP socket answers no interface ioctl).
    private let linkSocket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)

    deinit {
        close()
        Glibc.close(linkSocket)
        if !isUmemSocket {
            fillStorage.deallocate()
            completionStorage.deallocate()
        }
        rxStorage.deallocate()
        txStorage.deallocate()
    }

    // MARK: Rings

    /// The RX ring: frames received.
    public var rx: RxRing { RxRing(rxStorage) }
    /// The TX ring: frames to send.
    public var tx: TxRing { TxRing(txStorage) }
    /// The fill ring this socket works: empty buffers for the kernel to receive into. Traps on a
    /// socket that shares its queue's rings (``sharesQueueRings``).
    public var fill: FillRing {
        precondition(!sharesQueueRings, "this socket shares its queue's fill ring: use the queue's first socket")
        return FillRing(fillStorage)
    }
    /// The completion ring this socket works: buffers of sent frames, given back. Traps on a
    /// socket that shares its queue's rings (``sharesQueueRings``).
    public var completion: CompletionRing {
        precondition(!sharesQueueRings, "this socket shares its queue's completion ring: use the queue's first socket")
        return CompletionRing(completionStorage)
    }

    // MARK: Wakeups

    /// Kicks the kernel's TX processing (`sendto`), when `tx.needsWakeup` says it sleeps.
    /// Transient conditions (the ring is being processed, the device is busy or down) are not
    /// errors: the frames stay in the ring and a later kick sends them.
    @inlinable
    public func wakeTransmit() throws(XSKError) {
        if sendto(descriptor, nil, 0, Int32(MSG_DONTWAIT), nil, 0) >= 0 { return }
        let error = errno
        switch error {
        case EAGAIN, EBUSY, ENOBUFS, ENETDOWN, EINTR: return
        default:
            throw .system(SystemCallError(call: "sendto (TX wakeup)", errno: error, context: "\(interface) queue \(queue)"))
        }
    }

    /// Kicks the kernel's RX processing (`recvfrom`), when `fill.needsWakeup` says it sleeps.
    @inlinable
    public func wakeReceive() throws(XSKError) {
        if recvfrom(descriptor, nil, 0, Int32(MSG_DONTWAIT), nil, nil) >= 0 { return }
        let error = errno
        switch error {
        case EAGAIN, EBUSY, ENOBUFS, ENETDOWN, EINTR: return
        default:
            throw .system(SystemCallError(call: "recvfrom (RX wakeup)", errno: error, context: "\(interface) queue \(queue)"))
        }
    }

    /// Sleeps in `poll()` until the socket is readable (or writable when `forTransmit`), or the
    /// timeout passes. Returns whether it became ready.
    public func poll(forTransmit: Bool = false, timeoutMilliseconds: Int32) throws(XSKError) -> Bool {
        var request = pollfd(fd: descriptor, events: Int16(forTransmit ? POLLOUT : POLLIN), revents: 0)
        let ready = try wrap { () throws(SystemCallError) in
            try SystemCall.checked("poll", context: "\(interface) queue \(queue)") {
                Glibc.poll(&request, 1, timeoutMilliseconds)
            }
        }
        return ready > 0
    }

    /// Sleeps in `ppoll()` until the socket (and `other`, when given) is readable, or `timeout`
    /// passes: to the nanosecond, where `poll()` takes whole milliseconds. Returns whether one
    /// became ready.
    public func poll(orUntil other: XSKSocket? = nil, timeout: Duration) throws(XSKError) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
        let ready = try wrap { () throws(SystemCallError) in
            try SystemCall.checked("ppoll", context: "\(interface) queue \(queue)" + (other.map { " and \($0.interface) queue \($0.queue)" } ?? "")) {
                cshims_ppoll_readable(descriptor, other?.descriptor ?? -1, other == nil ? 1 : 2, nanoseconds)
            }
        }
        return ready > 0
    }

    // MARK: Kernel views

    /// The interface's MTU now (`SIOCGIFMTU`), from any thread.
    public func linkMTU() throws(XSKError) -> Int {
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { bytes in
            for (index, byte) in interface.name.utf8.prefix(Int(IFNAMSIZ) - 1).enumerated() { bytes[index] = byte }
        }
        _ = try wrap { () throws(SystemCallError) in
            try SystemCall.checked("ioctl(SIOCGIFMTU)", context: "interface \(interface)") {
                ioctl(linkSocket, UInt(SIOCGIFMTU), &request)
            }
        }
        return Int(request.ifr_ifru.ifru_mtu)
    }

    /// The kernel's drop and error counters for this socket (`XDP_STATISTICS`).
    public func statistics() throws(XSKError) -> XDPStatistics {
        var value = xdp_statistics()
        var length = socklen_t(MemoryLayout<xdp_statistics>.size)
        _ = try wrap { () throws(SystemCallError) in
            try SystemCall.checked("getsockopt(XDP_STATISTICS)", context: "\(interface) queue \(queue)") {
                getsockopt(descriptor, SOL_XDP, XDP_STATISTICS, &value, &length)
            }
        }
        return XDPStatistics(value)
    }
}

/// `struct xdp_statistics`: what the kernel dropped or refused on one socket.
public struct XDPStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Frames dropped for other reasons (e.g. too long for the chunk).
    public var rxDropped: UInt64
    /// Frames dropped because of an invalid descriptor on the receive side.
    public var rxInvalidDescriptors: UInt64
    /// TX descriptors the kernel dropped as invalid.
    public var txInvalidDescriptors: UInt64
    /// Frames dropped because the RX ring was full (the application did not release).
    public var rxRingFull: UInt64
    /// Times the kernel found the fill ring empty.
    public var rxFillRingEmpty: UInt64
    /// Times the kernel found the TX ring empty when it looked for a frame to send.
    public var txRingEmpty: UInt64

    init(_ value: xdp_statistics) {
        rxDropped = value.rx_dropped
        rxInvalidDescriptors = value.rx_invalid_descs
        txInvalidDescriptors = value.tx_invalid_descs
        rxRingFull = value.rx_ring_full
        rxFillRingEmpty = value.rx_fill_ring_empty_descs
        txRingEmpty = value.tx_ring_empty_descs
    }

    /// Under the names the stats and the metrics give these counters.
    public var description: String {
        "kernel_rx_dropped_total \(rxDropped), kernel_rx_invalid_total \(rxInvalidDescriptors), "
            + "kernel_tx_invalid_total \(txInvalidDescriptors), kernel_rx_ring_full_total \(rxRingFull), "
            + "kernel_fill_ring_empty_total \(rxFillRingEmpty), kernel_tx_ring_empty_total \(txRingEmpty)"
    }
}
