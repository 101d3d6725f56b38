// xskd's XDP programs and maps, loaded into the kernel from the object embedded at build time
// (bpf/xskd.bpf.c). One instance serves every interface and queue of a process: the XSK map
// takes a socket per queue, the filter map decides which frames go to xskd, and the per-CPU
// counters say what the program did.

import CShims
import Logging
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// xskd's XDP programs and maps, loaded into the kernel from the object embedded at build time.
///
/// One instance serves every interface and queue of a process: the XSK map takes a socket per
/// queue, the filter map decides which frames go to the sockets, and the per-CPU counters say
/// what the programs did.
public final class XDPPrograms: @unchecked Sendable {
    // Unchecked: the libbpf object is only read after init; map updates are kernel syscalls.

    /// One of the embedded object's programs; the raw value is its name in the object.
    public enum Program: String, Sendable, CaseIterable {
        /// Matching frames to the queue's AF_XDP socket, the rest to the kernel.
        case redirect = "xskd_redirect"
        /// The same, multi-buffer (`xdp.frags`): frames longer than one driver buffer reach it
        /// whole, and the frame limit applies to their whole length.
        case redirectFrags = "xskd_redirect_frags"
        /// XDP_DROP: the in-kernel bound for a drop job.
        case drop = "xskd_drop"
        /// XDP_TX with MACs swapped: the in-kernel bound for a reflect job.
        case reflect = "xskd_tx"
        /// The traffic generator, run through BPF_PROG_TEST_RUN in live-frames mode.
        case generate = "xskd_generate"
    }

    private let object: OpaquePointer
    private let objectBytes: [UInt8]
    private let logger: Logger
    let socketsMap: Int32
    let filterMap: Int32
    let countersMap: Int32
    let generatorMap: Int32
    let frameLimitsMap: Int32
    let arrivalStampsMap: Int32

    /// Opens the embedded object and loads every program and map into the kernel.
    public init(logger: Logger) throws(XSKError) {
        self.logger = logger
        BPFLog.route(to: logger)
        guard let bytes = Base64.decode(embeddedBPFObjectBase64), !bytes.isEmpty else {
            throw .malformedBPFObject("the embedded object does not decode")
        }
        objectBytes = bytes
        let options = ZeroedStruct<bpf_object_open_opts>()
        options.pointer.pointee.sz = MemoryLayout<bpf_object_open_opts>.size
        let opened: OpaquePointer? = objectBytes.withUnsafeBytes { buffer in
            "xskd".withCString { name in
                options.pointer.pointee.object_name = name
                return bpf_object__open_mem(buffer.baseAddress, buffer.count, options.pointer)
            }
        }
        guard let opened, libbpf_get_error(UnsafeRawPointer(opened)) == 0 else {
            throw .system(SystemCallError(call: "bpf_object__open_mem", errno: errno, context: "xskd BPF object"))
        }
        do {
            _ = try SystemCall.checkedNegativeErrno(
                "bpf_object__load", context: "xskd XDP programs",
                hint: { $0 == EPERM ? "loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN)" : nil }
            ) { bpf_object__load(opened) }
        } catch {
            bpf_object__close(opened)
            throw .system(error)
        }
        guard let sockets = Self.mapDescriptor(opened, "xskd_sockets"),
            let filter = Self.mapDescriptor(opened, "xskd_filter"),
            let counters = Self.mapDescriptor(opened, "xskd_counters"),
            let generator = Self.mapDescriptor(opened, "xskd_generator"),
            let frameLimits = Self.mapDescriptor(opened, "xskd_frame_limits"),
            let arrivalStamps = Self.mapDescriptor(opened, "xskd_arrival_stamps")
        else {
            bpf_object__close(opened)
            throw .malformedBPFObject("a map is missing (xskd_sockets, xskd_filter, xskd_counters, xskd_generator, xskd_frame_limits, xskd_arrival_stamps)")
        }
        object = opened
        socketsMap = sockets
        filterMap = filter
        countersMap = counters
        generatorMap = generator
        frameLimitsMap = frameLimits
        arrivalStampsMap = arrivalStamps
        logger.debug("XDP programs loaded", metadata: ["programs": "\(Program.allCases.map(\.rawValue))"])
    }

    deinit {
        bpf_object__close(object)
    }

    private static func mapDescriptor(_ object: OpaquePointer, _ name: String) -> Int32? {
        let descriptor = bpf_object__find_map_fd_by_name(object, name)
        return descriptor >= 0 ? descriptor : nil
    }

    /// The kernel file descriptor of a loaded program.
    public func descriptor(of program: Program) -> Int32 {
        let handle = bpf_object__find_program_by_name(object, program.rawValue)
        precondition(handle != nil, "program \(program.rawValue) missing from the embedded object")
        return bpf_program__fd(handle)
    }

    // MARK: Maps

    /// Replaces the traffic filter; takes effect for the next frame, sockets stay bound.
    public func setFilter(_ filter: TrafficFilter) throws(XSKError) {
        var key: UInt32 = 0
        var value = filter.mapValue
        try update(filterMap, key: &key, value: &value, what: "filter map")
        logger.info("traffic filter set", metadata: ["filter": "\(filter)"])
    }

    /// Points queue `queue` of every interface running `redirect` at the socket `descriptor`.
    /// The corresponding C function is `bpf_map_update_elem`.
    public func insertSocket(_ descriptor: Int32, queue: UInt32) throws(XSKError) {
        var key = queue
        var value = UInt32(bitPattern: descriptor)
        try update(socketsMap, key: &key, value: &value, what: "XSK map slot \(queue)")
    }

    /// Empties queue `queue`'s slot: its frames go to the kernel from now on. The
    /// corresponding C function is `bpf_map_delete_elem`.
    public func removeSocket(queue: UInt32) {
        var key = queue
        _ = bpf_map_delete_elem(socketsMap, &key)
    }

    /// Frames longer than `length` bytes on `queue` go to the kernel stack instead of the
    /// socket (0: no limit): the bound that makes packing fill buffers closer than the
    /// kernel's chunk size safe, whatever the link's MTU does.
    public func setFrameLimit(_ length: UInt32, queue: UInt32) throws(XSKError) {
        var key = queue
        var value = length
        try update(frameLimitsMap, key: &key, value: &value, what: "frame limit of queue \(queue)")
    }

    /// Whether `redirect` stamps each frame it sends to `queue`'s socket with its arrival time
    /// (`ArrivalStamp`, in the frame's metadata): one clock read per frame in the kernel.
    public func setArrivalStamps(_ enabled: Bool, queue: UInt32) throws(XSKError) {
        var key = queue
        var value: UInt32 = enabled ? 1 : 0
        try update(arrivalStampsMap, key: &key, value: &value, what: "arrival stamps of queue \(queue)")
    }

    /// The program's counters for `queue`, summed over CPUs. The corresponding C function is
    /// `bpf_map_lookup_elem`.
    public func counters(queue: UInt32) throws(XSKError) -> QueueCounters {
        let cpus = Int(libbpf_num_possible_cpus())
        var values = [xskd_queue_counters](repeating: xskd_queue_counters(), count: max(cpus, 1))
        var key = queue
        _ = try wrap { () throws(SystemCallError) in
            try SystemCall.checkedNegativeErrno("bpf_map_lookup_elem", context: "counters of queue \(queue)") {
                bpf_map_lookup_elem(countersMap, &key, &values)
            }
        }
        var total = QueueCounters()
        for value in values {
            total.redirected += value.redirected
            total.passed += value.passed
            total.dropped += value.dropped
            total.transmitted += value.transmitted
            total.tooLong += value.too_long
        }
        return total
    }

    private func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ map: Int32, key: inout Key, value: inout Value, what: String
    ) throws(XSKError) {
        _ = try wrap { () throws(SystemCallError) in
            try SystemCall.checkedNegativeErrno("bpf_map_update_elem", context: what) {
                bpf_map_update_elem(map, &key, &value, UInt64(BPF_ANY))
            }
        }
    }

    // MARK: Generator

    /// Transmits `count` copies of `frame` out of `interface` from inside the kernel
    /// (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES), each with a 64-bit sequence number
    /// (little endian) written at `sequenceOffset`, counting up from `firstSequence`. Blocks
    /// until all are sent. The interface's peer must accept XDP frames (a veth peer needs an
    /// XDP program or GRO).
    public func generate(
        frame: [UInt8], count: Int, on interface: NetworkInterface, sequenceOffset: Int,
        firstSequence: UInt64 = 0, batchSize: UInt32 = 64
    ) throws(XSKError) {
        guard frame.count >= 14, frame.count <= 3520 else {
            throw .invalidArgument("generated frames must be 14 to 3520 bytes, not \(frame.count)")
        }
        guard sequenceOffset >= 0, sequenceOffset + 8 <= frame.count, sequenceOffset <= Int(XSKD_GENERATOR_MAX_OFFSET) else {
            throw .invalidArgument("sequence offset \(sequenceOffset) does not fit an 8-byte number in a \(frame.count)-byte frame")
        }
        guard count > 0, count <= Int(Int32.max) else {
            throw .invalidArgument("frame count \(count) must be 1...\(Int32.max)")
        }
        var key: UInt32 = 0
        var state = xskd_generator(next_sequence: firstSequence, sequence_offset: UInt32(sequenceOffset), reserved: 0)
        try update(generatorMap, key: &key, value: &state, what: "generator map")

        var context = xdp_md()
        context.ingress_ifindex = interface.index
        context.data_end = UInt32(frame.count)
        let program = descriptor(of: .generate)
        let result: Int32 = frame.withUnsafeBytes { bytes in
            withUnsafePointer(to: &context) { contextPointer in
                let options = ZeroedStruct<bpf_test_run_opts>()
                options.pointer.pointee.sz = MemoryLayout<bpf_test_run_opts>.size
                options.pointer.pointee.data_in = bytes.baseAddress
                options.pointer.pointee.data_size_in = UInt32(bytes.count)
                options.pointer.pointee.ctx_in = UnsafeRawPointer(contextPointer)
                options.pointer.pointee.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                options.pointer.pointee.repeat = Int32(count)
                options.pointer.pointee.flags = UInt32(BPF_F_TEST_XDP_LIVE_FRAMES)
                options.pointer.pointee.batch_size = batchSize
                return bpf_prog_test_run_opts(program, options.pointer)
            }
        }
        guard result == 0 else {
            throw .system(SystemCallError(
                call: "bpf_prog_test_run_opts(live frames)", errno: -result, context: "generator on \(interface)",
                hint: -result == EINVAL ? "live-frames mode needs Linux 5.18 or later" : nil))
        }
    }

    /// Runs `program` once on a copy of `frame` in the kernel (BPF_PROG_TEST_RUN, nothing sent),
    /// as if it had arrived on queue 0 of the loopback device: the XDP action it returns.
    public func testRun(_ program: Program, frame: [UInt8]) throws(XSKError) -> UInt32 {
        let descriptor = descriptor(of: program)
        let options = ZeroedStruct<bpf_test_run_opts>()
        options.pointer.pointee.sz = MemoryLayout<bpf_test_run_opts>.size
        let result: Int32 = frame.withUnsafeBytes { bytes in
            options.pointer.pointee.data_in = bytes.baseAddress
            options.pointer.pointee.data_size_in = UInt32(bytes.count)
            options.pointer.pointee.repeat = 1
            return bpf_prog_test_run_opts(descriptor, options.pointer)
        }
        guard result == 0 else {
            throw .system(SystemCallError(call: "bpf_prog_test_run_opts", errno: -result, context: "\(program.rawValue), \(frame.count)-byte frame"))
        }
        return options.pointer.pointee.retval
    }

    // MARK: Attaching

    /// Attaches `program` to `interface` through a BPF link, so that a process that dies leaves
    /// nothing attached. An xskd program left attached the old way is replaced; a foreign one
    /// is refused unless `replaceForeign`. The corresponding C function is `bpf_link_create`.
    public func attach(
        _ program: Program, to interface: NetworkInterface, mode: XDPAttachMode, replaceForeign: Bool = false
    ) throws(XSKError) -> XDPLink {
        try clearOldAttachment(on: interface, replaceForeign: replaceForeign)
        let programDescriptor = descriptor(of: program)
        let modes: [XDPAttachMode] = mode == .automatic ? [.native, .skb] : [mode]
        var lastError: SystemCallError?
        for candidate in modes {
            let options = ZeroedStruct<bpf_link_create_opts>()
            options.pointer.pointee.sz = MemoryLayout<bpf_link_create_opts>.size
            options.pointer.pointee.flags = candidate.flags
            let link = bpf_link_create(programDescriptor, Int32(interface.index), BPF_XDP, options.pointer)
            if link >= 0 {
                logger.info(
                    "XDP program attached",
                    metadata: ["interface": "\(interface)", "program": "\(program.rawValue)", "mode": "\(candidate)"])
                return XDPLink(descriptor: link, interface: interface, program: program, mode: candidate, logger: logger)
            }
            let error = Int32(-link)
            lastError = SystemCallError(
                call: "bpf_link_create(BPF_XDP, \(candidate))", errno: error,
                context: "interface \(interface)", hint: Self.attachHint(error, mode: candidate))
            if mode == .automatic, error == EOPNOTSUPP || error == EINVAL {
                logger.notice("native XDP not supported, trying skb mode", metadata: ["interface": "\(interface)"])
                continue
            }
            break
        }
        throw .system(lastError!)
    }

    private static func attachHint(_ error: Int32, mode: XDPAttachMode) -> String? {
        switch error {
        case EBUSY, EEXIST: "another XDP program or another xskd holds the interface"
        case EOPNOTSUPP where mode == .native: "the driver has no native XDP; use skb mode"
        case EPERM: "attaching XDP programs needs root (CAP_NET_ADMIN and CAP_BPF)"
        default: nil
        }
    }

    /// What is attached now, if anything: program id and name. The corresponding C function is
    /// `bpf_xdp_query`.
    public func attachedProgram(on interface: NetworkInterface) throws(XSKError) -> (id: UInt32, name: String)? {
        let queryBox = ZeroedStruct<bpf_xdp_query_opts>()
        queryBox.pointer.pointee.sz = MemoryLayout<bpf_xdp_query_opts>.size
        _ = try wrap { () throws(SystemCallError) in
            try SystemCall.checkedNegativeErrno("bpf_xdp_query", context: "interface \(interface)") {
                bpf_xdp_query(Int32(interface.index), 0, queryBox.pointer)
            }
        }
        let query = queryBox.pointer.pointee
        let id = query.prog_id != 0 ? query.prog_id : max(query.drv_prog_id, query.skb_prog_id)
        guard id != 0 else { return nil }
        let descriptor = bpf_prog_get_fd_by_id(id)
        guard descriptor >= 0 else { return (id, "?") }
        defer { close(descriptor) }
        let infoBox = ZeroedStruct<bpf_prog_info>()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(descriptor, infoBox.pointer, &length) == 0 else { return (id, "?") }
        let name = withUnsafeBytes(of: infoBox.pointer.pointee.name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return (id, name)
    }

    private func clearOldAttachment(on interface: NetworkInterface, replaceForeign: Bool) throws(XSKError) {
        guard let (id, name) = try attachedProgram(on: interface) else { return }
        let ours = Program.allCases.contains { $0.rawValue.hasPrefix(name) && !name.isEmpty }
        guard ours || replaceForeign else {
            throw .foreignProgramAttached(interface: interface.name, programName: name, programID: id)
        }
        // Netlink attachments (an older xskd, or a forced foreign program) can be detached;
        // a live BPF link cannot, and the attach below then fails with EBUSY.
        for flags in [UInt32(XDP_FLAGS_DRV_MODE), UInt32(XDP_FLAGS_SKB_MODE)] {
            _ = bpf_xdp_detach(Int32(interface.index), flags, nil)
        }
        logger.notice(
            ours ? "replacing an xskd XDP program left on the interface" : "replacing a foreign XDP program (forced)",
            metadata: ["interface": "\(interface)", "program": "\(name)", "id": "\(id)"])
    }
}

/// Where the XDP program runs: in the driver (native) or after the skb is built (generic).
public enum XDPAttachMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// In the driver, before the kernel builds an skb (`XDP_FLAGS_DRV_MODE`).
    case native
    /// Generic XDP, after the kernel has built the skb: any driver, but slower
    /// (`XDP_FLAGS_SKB_MODE`).
    case skb
    /// Native when the driver supports it, else skb (logged).
    case automatic = "auto"

    var flags: UInt32 {
        switch self {
        case .native: UInt32(XDP_FLAGS_DRV_MODE)
        case .skb: UInt32(XDP_FLAGS_SKB_MODE)
        case .automatic: 0
        }
    }

    /// The mode's name.
    public var description: String { rawValue }
}

/// What the XDP program did on one queue, summed over CPUs.
public struct QueueCounters: Sendable, Equatable {
    /// Frames redirected to the queue's socket.
    public var redirected: UInt64 = 0
    /// Frames left to the kernel: those that did not match the filter, were too long, or found no
    /// socket in the queue's slot.
    public var passed: UInt64 = 0
    /// Frames the drop program dropped.
    public var dropped: UInt64 = 0
    /// Frames the reflect program sent back out (`XDP_TX`).
    public var transmitted: UInt64 = 0
    /// Matched the filter but were longer than the queue's frame limit: passed instead.
    public var tooLong: UInt64 = 0
    /// All counts at zero.
    public init() {}
}

/// An XDP program attached to an interface through a BPF link: closing the link (or the death
/// of the process) detaches it, and only it.
public final class XDPLink: @unchecked Sendable {
    /// The interface the program is attached to.
    public let interface: NetworkInterface
    /// The program attached.
    public let program: XDPPrograms.Program
    /// The mode the kernel attached it in: native or skb.
    public let mode: XDPAttachMode
    private let descriptor: LockedValue<Int32>
    private let logger: Logger

    init(descriptor: Int32, interface: NetworkInterface, program: XDPPrograms.Program, mode: XDPAttachMode, logger: Logger) {
        self.descriptor = LockedValue(descriptor)
        self.interface = interface
        self.program = program
        self.mode = mode
        self.logger = logger
    }

    /// Detaches the program (idempotent).
    public func detach() {
        let closed = descriptor.withLock { descriptor -> Bool in
            guard descriptor >= 0 else { return false }
            close(descriptor)
            descriptor = -1
            return true
        }
        if closed {
            logger.info("XDP program detached", metadata: ["interface": "\(interface)", "program": "\(program.rawValue)"])
        }
    }

    deinit { detach() }
}

/// A C struct in memory whose every byte starts at zero, padding included, worked on in place.
/// libbpf's option structs must be so: it refuses (EINVAL, "non-zero extra bytes") any whose
/// bytes past the fields it knows are not zero, and a Swift value (zero-initialised or not)
/// makes no promise about its padding, not even after a copy.
final class ZeroedStruct<T> {
    let pointer: UnsafeMutablePointer<T>

    init() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        pointer = raw.bindMemory(to: T.self, capacity: 1)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// Runs a throwing system call wrapper and lifts its error into `XSKError`.
@inlinable
func wrap<Result>(_ body: () throws(SystemCallError) -> Result) throws(XSKError) -> Result {
    do { return try body() } catch { throw .system(error) }
}
