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

public final class XSKSocket: @unchecked Sendable {
    // Unchecked: the rings are used by one poll thread; the rest is immutable after init.

    public enum BindMode: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Zero-copy when the driver supports it, else copy (logged).
        case automatic = "auto"
        case copy
        case zeroCopy = "zero-copy"
        public var description: String { rawValue }
    }

    public struct Configuration: Sendable {
        public var interface: String
        public var queue: UInt32
        public var rxSize: UInt32 = 2048
        public var txSize: UInt32 = 2048
        public var bindMode: BindMode = .automatic
        /// Ask the kernel to set need_wakeup flags, so that syscalls happen only when it is idle.
        public var needWakeup = true
        /// Busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET), off when nil.
        public var busyPoll: BusyPoll?
        /// How often to retry a bind that fails with EBUSY (the kernel unbinds asynchronously).
        public var busyRetries = 20

        public init(interface: String, queue: UInt32) {
            self.interface = interface
            self.queue = queue
        }
    }

    public struct BusyPoll: Sendable, Equatable {
        public var microseconds: Int32 = 20
        public var budget: Int32 = 64
        public init(microseconds: Int32 = 20, budget: Int32 = 64) {
            self.microseconds = microseconds
            self.budget = budget
        }
    }

    public let umem: Umem
    public let interface: NetworkInterface
    public let queue: UInt32
    /// The mode the kernel bound: `.copy` or `.zeroCopy`.
    public let boundMode: BindMode
    public let descriptor: Int32
    let handle: OpaquePointer
    private let rxStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let txStorage: UnsafeMutablePointer<xsk_ring_prod>
    private let fillStorage: UnsafeMutablePointer<xsk_ring_prod>
    private let completionStorage: UnsafeMutablePointer<xsk_ring_cons>
    private let logger: Logger

    /// Creates and binds the socket, in the calling thread's network namespace.
    ///
    /// It does not load any XDP program (libxdp's is inhibited): put `descriptor` in the XSK map
    /// of `XDPPrograms` to start receiving.
    public init(umem: Umem, configuration: Configuration, logger: Logger) throws(XSKError) {
        let interface = try NetworkInterface(named: configuration.interface)
        for (name, size) in [("RX", configuration.rxSize), ("TX", configuration.txSize)]
        where size == 0 || size.nonzeroBitCount != 1 {
            throw .invalidArgument("\(name) ring size \(size) must be a power of two")
        }
        self.umem = umem
        self.interface = interface
        self.queue = configuration.queue
        var logger = logger
        logger[metadataKey: "interface"] = "\(interface)"
        logger[metadataKey: "queue"] = "\(configuration.queue)"
        self.logger = logger

        rxStorage = .allocate(capacity: 1)
        rxStorage.initialize(to: xsk_ring_cons())
        txStorage = .allocate(capacity: 1)
        txStorage.initialize(to: xsk_ring_prod())
        fillStorage = .allocate(capacity: 1)
        fillStorage.initialize(to: xsk_ring_prod())
        completionStorage = .allocate(capacity: 1)
        completionStorage.initialize(to: xsk_ring_cons())

        // Automatic mode decides with a throwaway socket first: libxdp cannot retry a failed
        // bind on a UMEM's own socket (its rings are left half set up), so the real socket
        // binds once, in the mode that works.
        var mode = configuration.bindMode
        if mode == .automatic {
            mode = Self.probeZeroCopy(configuration: configuration, logger: logger) ? .zeroCopy : .copy
            if mode == .copy { logger.notice("zero-copy not supported by the driver; binding in copy mode") }
        }
        let created: OpaquePointer
        do {
            created = try Self.bind(
                mode: mode, configuration: configuration, umem: umem,
                rx: rxStorage, tx: txStorage, fill: fillStorage, completion: completionStorage, logger: logger)
        } catch {
            rxStorage.deallocate()
            txStorage.deallocate()
            fillStorage.deallocate()
            completionStorage.deallocate()
            throw .system(error)
        }
        handle = created
        boundMode = mode
        descriptor = xsk_socket__fd(created)
        do {
            if let busyPoll = configuration.busyPoll { try enableBusyPoll(busyPoll) }
        } catch {
            xsk_socket__delete(created)
            rxStorage.deallocate()
            txStorage.deallocate()
            fillStorage.deallocate()
            completionStorage.deallocate()
            throw error
        }
        logger.info("AF_XDP socket bound", metadata: ["mode": "\(mode)", "fd": "\(descriptor)"])
    }

    /// Whether a zero-copy bind works on this queue, tried on a small UMEM of its own.
    static func probeZeroCopy(configuration: Configuration, logger: Logger) -> Bool {
        let size = 64 * 4096
        guard let area = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            area != MAP_FAILED
        else { return false }
        defer { munmap(area, size) }
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        defer {
            fill.deallocate()
            completion.deallocate()
            rx.deallocate()
            tx.deallocate()
        }
        var umemConfiguration = xsk_umem_config(fill_size: 64, comp_size: 64, frame_size: 4096, frame_headroom: 0, flags: 0)
        var umem: OpaquePointer?
        guard xsk_umem__create(&umem, area, UInt64(size), fill, completion, &umemConfiguration) == 0, let umem else {
            return false
        }
        defer { xsk_umem__delete(umem) }
        var socketConfiguration = xsk_socket_config()
        socketConfiguration.rx_size = 64
        socketConfiguration.tx_size = 64
        socketConfiguration.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
        socketConfiguration.bind_flags = UInt16(XDP_ZEROCOPY)
        var socket: OpaquePointer?
        let result = xsk_socket__create(&socket, configuration.interface, configuration.queue, umem, rx, tx, &socketConfiguration)
        guard result == 0, let socket else {
            logger.debug("zero-copy probe failed", metadata: ["errno": "\(SystemCallError.name(ofErrno: -result))"])
            return false
        }
        xsk_socket__delete(socket)
        return true
    }

    private static func bind(
        mode: BindMode, configuration: Configuration, umem: Umem,
        rx: UnsafeMutablePointer<xsk_ring_cons>, tx: UnsafeMutablePointer<xsk_ring_prod>,
        fill: UnsafeMutablePointer<xsk_ring_prod>, completion: UnsafeMutablePointer<xsk_ring_cons>,
        logger: Logger
    ) throws(SystemCallError) -> OpaquePointer {
        var bindFlags = UInt16(mode == .zeroCopy ? XDP_ZEROCOPY : XDP_COPY)
        if configuration.needWakeup { bindFlags |= UInt16(XDP_USE_NEED_WAKEUP) }
        var socketConfiguration = xsk_socket_config()
        socketConfiguration.rx_size = configuration.rxSize
        socketConfiguration.tx_size = configuration.txSize
        socketConfiguration.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
        socketConfiguration.bind_flags = bindFlags
        var attempt = 0
        while true {
            var created: OpaquePointer?
            let result = xsk_socket__create_shared(
                &created, configuration.interface, configuration.queue, umem.handle,
                rx, tx, fill, completion, &socketConfiguration)
            if result == 0, let created { return created }
            let error = -result
            // Unbinding a previous socket from this queue completes asynchronously in the kernel.
            if error == EBUSY, attempt < configuration.busyRetries {
                attempt += 1
                logger.debug("queue busy, retrying bind", metadata: ["attempt": "\(attempt)"])
                usleep(50_000)
                continue
            }
            throw SystemCallError(
                call: "xsk_socket__create_shared (bind \(mode))", errno: error,
                context: "interface \(configuration.interface) queue \(configuration.queue)",
                hint: bindHint(error, mode: mode))
        }
    }

    static func bindHint(_ error: Int32, mode: BindMode) -> String? {
        switch error {
        case EOPNOTSUPP where mode == .zeroCopy: "the driver has no zero-copy AF_XDP; bind in copy mode"
        case EBUSY: "another AF_XDP socket (another xskd?) is bound to this queue"
        case EINVAL: "the queue does not exist on this interface, or the ring sizes are refused"
        case EPERM, EACCES: "AF_XDP sockets need root (CAP_NET_RAW)"
        default: nil
        }
    }

    deinit {
        xsk_socket__delete(handle)
        rxStorage.deallocate()
        txStorage.deallocate()
        fillStorage.deallocate()
        completionStorage.deallocate()
        logger.info("AF_XDP socket closed")
    }

    // MARK: Rings

    public var rx: RxRing { RxRing(rxStorage) }
    public var tx: TxRing { TxRing(txStorage) }
    public var fill: FillRing { FillRing(fillStorage) }
    public var completion: CompletionRing { CompletionRing(completionStorage) }

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

    // MARK: Kernel views

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

    private func enableBusyPoll(_ busyPoll: BusyPoll) throws(XSKError) {
        for (name, option, value) in [
            ("SO_PREFER_BUSY_POLL", cshims_so_prefer_busy_poll(), Int32(1)),
            ("SO_BUSY_POLL", SO_BUSY_POLL, busyPoll.microseconds),
            ("SO_BUSY_POLL_BUDGET", cshims_so_busy_poll_budget(), busyPoll.budget),
        ] {
            var value = value
            _ = try wrap { () throws(SystemCallError) in
                try SystemCall.checked("setsockopt(\(name))", context: "\(interface) queue \(queue)",
                    hint: { $0 == EPERM ? "busy-poll budgets above the default need CAP_NET_ADMIN" : nil }) {
                    setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
                }
            }
        }
        logger.info("busy polling on", metadata: ["microseconds": "\(busyPoll.microseconds)", "budget": "\(busyPoll.budget)"])
    }
}

/// `struct xdp_statistics`: what the kernel dropped or refused on one socket.
public struct XDPStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Frames dropped for other reasons (e.g. too long for the chunk).
    public var rxDropped: UInt64
    public var rxInvalidDescriptors: UInt64
    public var txInvalidDescriptors: UInt64
    /// Frames dropped because the RX ring was full (the application did not release).
    public var rxRingFull: UInt64
    /// Times the kernel found the fill ring empty.
    public var rxFillRingEmpty: UInt64
    public var txRingEmpty: UInt64

    init(_ value: xdp_statistics) {
        rxDropped = value.rx_dropped
        rxInvalidDescriptors = value.rx_invalid_descs
        txInvalidDescriptors = value.tx_invalid_descs
        rxRingFull = value.rx_ring_full
        rxFillRingEmpty = value.rx_fill_ring_empty_descs
        txRingEmpty = value.tx_ring_empty_descs
    }

    public var description: String {
        "rx_dropped \(rxDropped), rx_invalid \(rxInvalidDescriptors), tx_invalid \(txInvalidDescriptors), "
            + "rx_ring_full \(rxRingFull), fill_ring_empty \(rxFillRingEmpty), tx_ring_empty \(txRingEmpty)"
    }
}
