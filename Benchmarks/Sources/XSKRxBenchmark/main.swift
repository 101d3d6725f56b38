// RX on veth, side by side in one run: how many 64-byte frames per second a Swift AF_XDP
// receive loop takes from the in-kernel generator, next to the in-kernel XDP_DROP rate on the
// same veth pair with the same generator (what no user-space program can beat here).
//
// Run as root from Benchmarks/: `swift run -c release XSKRxBenchmark [frames] [repetitions]`.
// The generator is pinned to CPU 0 (veth runs the receiving end's NAPI there too, like a NIC
// interrupt on another core), the receive loop to CPU 1, native XDP mode, copy bind (veth has
// no zero-copy).

import CShims
import Foundation
import Logging
import PageFrag
import Synchronization
import SystemCalls
import VethLab
import XSK

let arguments = CommandLine.arguments
let frames = arguments.count > 1 ? Int(arguments[1]) ?? 5_000_000 : 5_000_000
let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
var logger = Logger(label: "xsk-rx-bench")
logger.logLevel = .warning

guard getuid() == 0 else {
    print("XSKRxBenchmark needs root (veth lab, AF_XDP, BPF)")
    exit(1)
}

@Sendable func template(length: Int) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: length)
    for index in 0..<6 { frame[index] = 0xFF }
    frame[6...11] = [0x02, 0, 0, 0, 0, 1]
    frame[12] = 0x88
    frame[13] = 0xB5
    return frame
}

@Sendable func pin(_ cpu: Int) {
    let result = cshims_pin_current_thread(Int32(cpu))
    precondition(result == 0, "cannot pin to CPU \(cpu)")
}

/// Runs the generator for `frames` frames on CPU 0, returning the seconds it took.
func generate(_ programs: XDPPrograms, lab: VethLab, frames: Int) throws -> Double {
    try lab.run(in: .generator) {
        pin(0)
        let interface = try NetworkInterface(named: lab.generatorInterface)
        let start = ContinuousClock.now
        var sent = 0
        while sent < frames {
            let burst = min(1_000_000, frames - sent)
            try programs.generate(frame: template(length: 64), count: burst, on: interface, sequenceOffset: 14, firstSequence: UInt64(sent))
            sent += burst
        }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

func kernelDrop(lab: VethLab) throws -> (mpps: Double, dropped: UInt64) {
    let programs = try XDPPrograms(logger: logger)
    let link = try lab.run(in: .device) {
        try programs.attach(.drop, to: NetworkInterface(named: lab.deviceInterface), mode: .native)
    }
    defer { link.detach() }
    let seconds = try generate(programs, lab: lab, frames: frames)
    let dropped = try programs.counters(queue: 0).dropped
    return (Double(dropped) / seconds / 1e6, dropped)
}

final class Shared: @unchecked Sendable {
    let generatorDone = Atomic<Bool>(false)
}

/// The Swift receive loop on an `XSKQueue` with the given fill strategy, pinned to CPU 1:
/// receive a batch, give every frame back, repeat; the queue refills the fill ring.
func swiftReceive(lab: VethLab, strategy: XSKQueue.FillStrategy) throws -> (mpps: Double, received: Int, statistics: XDPStatistics) {
    let programs = try XDPPrograms(logger: logger)
    let link = try lab.run(in: .device) {
        try programs.attach(.redirect, to: NetworkInterface(named: lab.deviceInterface), mode: .native)
    }
    defer { link.detach() }
    let pool = try PagePool(configuration: .init(size: 64 << 20, pageOrder: 9, backing: .automatic), logger: logger)
    let socket = try lab.run(in: .device) { () throws -> XSKSocket in
        let umem = try Umem(pool: pool, logger: logger)
        var configuration = XSKSocket.Configuration(interface: lab.deviceInterface, queue: 0)
        configuration.rxSize = 4096
        return try XSKSocket(umem: umem, configuration: configuration, logger: logger)
    }
    try programs.insertSocket(socket.descriptor, queue: 0)

    let shared = Shared()
    let result = LockedResult()
    let ready = LockedResult()
    let kernelStatistics = LockedValue<XDPStatistics?>(nil)
    let receiver = JoinableThread {
        pin(1)
        var configuration = XSKQueue.Configuration()
        configuration.fillStrategy = strategy
        var queue = try! XSKQueue(socket: socket, programs: programs, configuration: configuration, logger: logger)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        ready.set(received: 0, seconds: 0)
        var received = 0
        var first: ContinuousClock.Instant?
        var last = ContinuousClock.now
        var idleSince: ContinuousClock.Instant?
        while true {
            let count = queue.receive(into: frames)
            if count == 0 {
                if queue.needsReceiveWakeup { try? socket.wakeReceive() }
                if shared.generatorDone.load(ordering: .acquiring) {
                    let now = ContinuousClock.now
                    if let idleSince, now - idleSince > .milliseconds(50) { break }
                    if idleSince == nil { idleSince = now }
                }
                continue
            }
            idleSince = nil
            if first == nil { first = .now }
            for index in 0..<count { queue.release(frames[index]) }
            received += count
            last = .now
        }
        let elapsed = last - (first ?? last)
        kernelStatistics.withLock { $0 = try? socket.statistics() }
        _ = queue.stop(programs: programs)
        result.set(received: received, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
    while !ready.isSet { Thread.sleep(forTimeInterval: 0.01) }
    _ = try generate(programs, lab: lab, frames: frames)
    shared.generatorDone.store(true, ordering: .releasing)
    receiver.join()
    let statistics = kernelStatistics.withLock { $0 }!
    do { try pool.verifyQuiescent() } catch { print("leak after the RX run: \(error)") }
    let (received, seconds) = result.value
    return (Double(received) / seconds / 1e6, received, statistics)
}

/// Fill buffers one MiB of UMEM holds: fragments for MTU 1500 carved by a fill cache until
/// the pool is empty, against fixed 2 KiB frames.
func buffersPerMiB(backing: PagePool.Backing, order: Int) throws -> (fragments: Double, backing: String) {
    let pool = try PagePool(configuration: .init(size: 16 << 20, pageOrder: order, backing: backing, tracksFragments: false), logger: logger)
    var cache = PageFragCache(pool: pool, minimumOrder: order)
    var carved: [Fragment] = []
    let size = XSKQueue.fragmentSize(mtu: 1500, headroom: 0, alignment: 64, chunkSize: 2048)
    while let fragment = cache.alloc(size: size, alignment: 64) { carved.append(fragment) }
    for fragment in carved { cache.free(fragment) }
    cache.drain()
    return (Double(carved.count) / Double(pool.size >> 20), "\(pool.backing), \((PagePool.unitSize << order) >> 10) KiB pages")
}

final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (Int, Double)?
    func set(received: Int, seconds: Double) { lock.withLock { stored = (received, seconds) } }
    var isSet: Bool { lock.withLock { stored != nil } }
    var value: (Int, Double) { lock.withLock { stored! } }
}

// 2 MiB hugepages for the UMEMs (64 MiB each, one at a time) and the buffers-per-MiB row;
// the previous reservation is put back at the end.
let hugePagesPath = "/proc/sys/vm/nr_hugepages"
let previousHugePages = (try? String(contentsOfFile: hugePagesPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
try? "\((Int(previousHugePages) ?? 0) + 48)\n".write(toFile: hugePagesPath, atomically: false, encoding: .utf8)
defer { try? "\(previousHugePages)\n".write(toFile: hugePagesPath, atomically: false, encoding: .utf8) }

let lab = try VethLab()
defer { lab.destroy() }
print("| run | in-kernel XDP_DROP (Mpps) | Swift RX, fragment cache (Mpps) | Swift RX, descriptor slots (Mpps) | cache / drop | slots / cache | delivered (cache, slots) of \(frames) |")
print("|--:|--:|--:|--:|--:|--:|--:|")
var rows: [(drop: Double, cache: Double, slots: Double)] = []
for run in 1...repetitions {
    let drop = try kernelDrop(lab: lab)
    let cache = try swiftReceive(lab: lab, strategy: .fragmentCache)
    let slots = try swiftReceive(lab: lab, strategy: .descriptorSlots)
    rows.append((drop.mpps, cache.mpps, slots.mpps))
    print(String(format: "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d, %d |", run, drop.mpps, cache.mpps, slots.mpps,
        cache.mpps / drop.mpps, slots.mpps / cache.mpps, cache.received, slots.received))
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print(String(format: "| median | %.2f | %.2f | %.2f | %.2f | %.2f | |",
    median(rows.map(\.drop)), median(rows.map(\.cache)), median(rows.map(\.slots)),
    median(rows.map { $0.cache / $0.drop }), median(rows.map { $0.slots / $0.cache })))

print("")
print("| UMEM backing | fill buffers per MiB (1792 B fragments) | 2 KiB frames per MiB | ratio |")
print("|:--|--:|--:|--:|")
for (backing, order) in [(PagePool.Backing.smallPages, 3), (.hugePages, 9)] {
    do {
        let result = try buffersPerMiB(backing: backing, order: order)
        print(String(format: "| %@ | %.1f | 512 | %.3f |", result.backing, result.fragments, result.fragments / 512))
    } catch {
        print("| \(backing) | unavailable: \(error) | | |")
    }
}
