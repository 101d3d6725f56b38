// The options of `xskd run`, as the command line gives them (each also a config file key):
// parsed here, resolved over the config file and the defaults by `Settings`.

import ArgumentParser
import Logging
import PageFrag
import XSK
import XSKJobs

/// The options of `xskd run`.
public struct RunOptions: ParsableArguments {
    /// `--config`: a JSON file of options; nil for none.
    @Option(help: "A JSON file with any of the options below (keys as the long option names, the filter as an object: {\"filter\": {\"ethertype\": \"0x0800\", \"ip-protocol\": 17, \"ports\": \"9000-9100\"}}). The command line overrides the file; SIGHUP re-reads its filter.")
    public var config: String?

    /// `--interface`: the interface to run on (required here or in the config file).
    @Option(name: .shortAndLong, help: "Interface to run on.")
    public var interface: String?

    /// `--queues`: the queue list as given (`0,1` or `all`); nil for queue 0.
    @Option(name: .shortAndLong, help: "Queues: a comma-separated list (0,1) or 'all'. (default: 0)")
    public var queues: String?

    /// `--job`: what the poll threads do; nil for drop.
    @Option(name: .shortAndLong, help: "The job: \(JobKind.allCases.map(\.rawValue).joined(separator: ", ")). (default: drop)")
    public var job: JobKind?

    /// `--xdp-mode`: how the XDP program is attached; nil for auto.
    @Option(help: "XDP attach mode: native, skb or auto. (default: auto)")
    public var xdpMode: XDPAttachMode?

    /// `--bind-mode`: copy or zero-copy sockets; nil for auto.
    @Option(help: "Socket bind mode: auto (zero-copy if the driver has it), copy or zero-copy. (default: auto)")
    public var bindMode: XSKSocket.BindMode?

    /// `--multi-buffer`: frames longer than one buffer as chains; nil for auto.
    @Option(help: "Jumbo frames as buffer chains (multi-buffer XDP and XDP_USE_SG): auto (where the kernel and driver allow, logged when not), on or off. (default: auto)")
    public var multiBuffer: XSKSocket.MultiBuffer?

    /// `--fill-strategy`: ring-level fragment cache or descriptor slots; nil for the cache.
    @Option(help: "How fill buffers are managed: fragment-cache or descriptor-slots. (default: fragment-cache)")
    public var fillStrategy: XSKQueue.FillStrategy?

    /// `--wait`: how an idle poll thread waits; nil for the job's default.
    @Option(help: "How an idle poll thread waits: spin (always polls), poll (sleeps in poll()) or adaptive (polls while that brings frames; otherwise sleeps in poll(), or in timed naps sized to the RX ring while a stream flows). (default: adaptive)")
    public var wait: WaitMode?

    /// `--max-latency`: the adaptive wait's bound on a frame's wait in the RX ring, in µs; nil for none.
    @Option(help: "adaptive wait: the longest a frame may wait in the RX ring, in microseconds; naps are shortened to keep it; where a wakeup from sleep takes longer on this machine (99th percentile), or frames after recent sleeps waited longer, the thread polls without sleeping. (default: none; naps up to 1 ms)")
    public var maxLatency: Double?

    /// `--sample-residency`: time one frame in N through reflect or forward; nil for the default.
    @Option(help: "reflect, forward: time one frame in N from its arrival at the XDP program to its transmit completion (residency), 0 for none. (default: 64)")
    public var sampleResidency: Int?

    /// `--umem-size`: the UMEM in MiB; nil sizes it for the queues.
    @Option(help: "UMEM size in MiB, shared by all queues; refused when it cannot hold every queue's rings full of buffers. (default: what they need, at least 64)")
    public var umemSize: Int?

    /// `--hugepages`: what backs the UMEM; nil for auto.
    @Option(help: "2 MiB hugepages for the UMEM: auto, on or off. (default: auto)")
    public var hugepages: PagePool.Backing?

    /// `--umem-chunks`: the UMEM's chunk mode; nil for auto.
    @Option(help: "UMEM chunk mode: aligned (one 2 KiB chunk per buffer, the kernel's fast path), unaligned (buffers sized from the MTU at any offset: more per MiB) or auto (the one measured faster for the interface and MTU, logged). (default: auto)")
    public var umemChunks: UmemChunks?

    /// `--batch`: descriptors per ring operation; nil for 64.
    @Option(help: "Descriptors per ring operation. (default: 64)")
    public var batch: Int?

    /// `--ring-size`: RX and TX ring size; nil for the job's default.
    @Option(help: "RX and TX ring size, a power of two. (default: 2048; 8192 for capture)")
    public var ringSize: UInt32?

    /// `--fill-size`: fill and completion ring size; nil for the job's default.
    @Option(help: "Fill and completion ring size, a power of two. (default: 4096; 8192 for capture)")
    public var fillSize: UInt32?

    /// `--busy-poll`: SO_BUSY_POLL microseconds, optionally with a budget; nil for off.
    @Option(help: "Busy polling: MICROSECONDS or MICROSECONDS:BUDGET (SO_BUSY_POLL, SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET). (default: off)")
    public var busyPoll: String?

    /// `--fragment-mtu`: the MTU fill buffers are sized for instead of the interface's.
    @Option(help: "Size fill buffers for this MTU instead of the interface's (and follow no MTU change).")
    public var fragmentMTU: Int?

    /// `--cpus`: the CPUs the poll threads are pinned to, one per queue in order.
    @Option(help: "Pin the poll threads to these CPUs, one per queue in order (comma-separated).")
    public var cpus: String?

    /// `--filter-ethertype`: only frames of this ethertype go to xskd.
    @Option(help: "Only frames of this ethertype (e.g. 0x0800) go to xskd.")
    public var filterEthertype: String?

    /// `--filter-ip-protocol`: only frames of this IP protocol go to xskd.
    @Option(help: "Only frames of this IP protocol (e.g. 17 for UDP) go to xskd.")
    public var filterIPProtocol: UInt8?

    /// `--filter-ports`: only UDP/TCP frames to these destination ports go to xskd.
    @Option(help: "Only UDP/TCP frames to these destination ports (9000 or 9000-9100) go to xskd.")
    public var filterPorts: String?

    /// `--to`: forward's second interface.
    @Option(help: "forward: the second interface; frames cross between --interface and it, both ways.")
    public var to: String?

    /// `--size`: generate and latency frame length; nil for the default.
    @Option(help: "generate, latency: frame length in bytes, 60...9000. (default: 64; 66 with --destination-ip, the least that carries the stamp)")
    public var size: Int?

    /// `--rate`: generate frames (latency probes) per second; nil for as fast as possible.
    @Option(help: "generate: frames per second per queue, 0 for as fast as possible; latency: probes per second, 0 for one at a time. (default: 0)")
    public var rate: Double?

    /// `--count`: frames (probes) per queue before the run ends; nil for until stopped.
    @Option(help: "generate, latency: frames (probes) to send per queue, then the run ends. (default: until stopped)")
    public var count: Int?

    /// `--destination-mac`: the generated frames' destination MAC; nil for broadcast.
    @Option(help: "generate, latency: destination MAC address. (default: ff:ff:ff:ff:ff:ff)")
    public var destinationMAC: String?

    /// `--destination-ip`: generate UDP/IPv4 datagrams to this address; nil for raw frames.
    @Option(help: "generate: send UDP/IPv4 datagrams (valid IP and UDP checksums, the stamp in the payload) to this IPv4 address instead of raw frames.")
    public var destinationIP: String?

    /// `--source-ip`: the generated datagrams' IPv4 source; nil for 198.18.0.1.
    @Option(help: "generate: the UDP datagrams' IPv4 source address. (default: 198.18.0.1)")
    public var sourceIP: String?

    /// `--source-port`: the generated datagrams' UDP source port; nil for 9.
    @Option(help: "generate: the UDP datagrams' source port. (default: 9)")
    public var sourcePort: Int?

    /// `--destination-port`: the generated datagrams' UDP destination port; nil for 9.
    @Option(help: "generate: the UDP datagrams' destination port. (default: 9)")
    public var destinationPort: Int?

    /// `--write`: the capture job's pcapng file, `-` for standard output; nil for none.
    @Option(help: "capture: the pcapng file every received frame is written to, '-' for standard output (a pipe: --write - | tcpdump -r -).")
    public var write: String?

    /// `--tap`: a pcapng file of what any other job receives and sends, `-` for standard output; nil for none.
    @Option(help: "Any job but capture: a pcapng file of what the job receives and sends (the direction in each packet's flags), '-' for standard output.")
    public var tap: String?

    /// `--snap-length`: bytes kept of each captured frame; nil for 65535.
    @Option(help: "capture, tap: bytes kept of each frame, 1...65535. (default: 65535)")
    public var snapLength: Int?

    /// `--sample-capture`: capture one frame in N; nil for every frame.
    @Option(help: "capture, tap: capture one frame in N. (default: 1)")
    public var sampleCapture: Int?

    /// `--rotate-size`: MiB after which a new capture file starts; nil for no rotation by size.
    @Option(help: "capture, tap: start a new file after this many MiB (files named FILE with a number before the extension). (default: none)")
    public var rotateSize: Int?

    /// `--rotate-seconds`: seconds after which a new capture file starts; nil for no rotation by time.
    @Option(help: "capture, tap: start a new file after this many seconds. (default: none)")
    public var rotateSeconds: Double?

    /// `--rotate-files`: the most capture files kept when rotating; nil keeps every file.
    @Option(help: "capture, tap, with rotation: keep at most this many files, deleting the oldest. (default: every file)")
    public var rotateFiles: Int?

    /// `--capture-buffer`: MiB of staging per queue between the poll thread and the writer; nil for 8.
    @Option(help: "capture, tap: MiB of staging per queue between the poll thread and the writer; when the disk falls behind by more, frames are dropped from the capture, never from the job. (default: 8)")
    public var captureBuffer: Int?

    /// `--metrics`: where to serve Prometheus metrics (ADDRESS:PORT, a bare PORT, or [IPv6]:PORT); nil for none.
    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics; a bare PORT listens on 127.0.0.1 and ::1, [IPv6]:PORT on that address. (default: off)")
    public var metrics: String?

    /// `--follow-sequences`: drop and reflect count loss, reordering and duplicates of generate's stamped frames per flow.
    @Flag(help: "drop, reflect: follow the sequences of generate's stamped frames per flow (loss, reordering, duplicates); reads every frame's stamp, which costs rate where the poll thread is the bottleneck.")
    public var followSequences = false

    /// `--force`: replace an XDP program on the interface that is not xskd's.
    @Flag(help: "Replace an XDP program that is not xskd's.")
    public var force = false

    /// `--duration`: seconds after which the run stops by itself; nil to run until signalled.
    @Option(help: "Stop by itself after this many seconds.")
    public var duration: Double?

    /// `--stats-interval`: seconds between statistics lines, 0 for none; nil for the default of 1.
    @Option(help: "Seconds between statistics lines, 0 for none. (default: 1)")
    public var statsInterval: Double?

    /// `--log-level`: the least severe level logged; nil for the default, info.
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (default: info)")
    public var logLevel: Logger.Level?

    /// The defaults, as the argument parser needs.
    public init() {}
}

extension JobKind: ExpressibleByArgument {}
extension WaitMode: ExpressibleByArgument {}
extension XDPAttachMode: ExpressibleByArgument {}
extension XSKSocket.BindMode: ExpressibleByArgument {}
extension XSKSocket.MultiBuffer: ExpressibleByArgument {}
extension FillStrategy: ExpressibleByArgument {}
extension PagePool.Backing: ExpressibleByArgument {}
extension UmemChunks: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
