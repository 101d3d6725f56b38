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

func template(length: Int) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: length)
    for index in 0..<6 { frame[index] = 0xFF }
    frame[6...11] = [0x02, 0, 0, 0, 0, 1]
    frame[12] = 0x88
    frame[13] = 0xB5
    return frame
}

func pin(_ cpu: Int) {
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

func swiftReceive(lab: VethLab) throws -> (mpps: Double, received: Int, statistics: XDPStatistics) {
    let programs = try XDPPrograms(logger: logger)
    let link = try lab.run(in: .device) {
        try programs.attach(.redirect, to: NetworkInterface(named: lab.deviceInterface), mode: .native)
    }
    defer { link.detach() }
    let chunk = 2048
    let pool = try PagePool(configuration: .init(size: 64 << 20, pageOrder: 9, backing: .automatic), logger: logger)
    var socket: XSKSocket? = try lab.run(in: .device) { () throws -> XSKSocket in
        let umem = try Umem(pool: pool, logger: logger)
        var configuration = XSKSocket.Configuration(interface: lab.deviceInterface, queue: 0)
        configuration.rxSize = 4096
        return try XSKSocket(umem: umem, configuration: configuration, logger: logger)
    }
    try programs.insertSocket(socket!.descriptor, queue: 0)
    // Which 2048-byte slots are posted to the fill ring (or held by the kernel): one bit each,
    // so that teardown can give them back without a per-packet dictionary.
    let posted = UnsafeMutablePointer<UInt64>.allocate(capacity: pool.size / chunk / 64)
    posted.initialize(repeating: 0, count: pool.size / chunk / 64)
    defer { posted.deallocate() }

    let shared = Shared()
    let result = LockedResult()
    let receiver = JoinableThread { [socket] in
        let receiverSocket = socket!
        pin(1)
        var cache = PageFragCache(pool: pool)
        let fill = receiverSocket.fill
        let rx = receiverSocket.rx
        func post(_ batch: AddressBatch) {
            for index in 0..<batch.count {
                let offset = cache.alloc(size: chunk)!.offset
                batch[index] = offset
                let slot = Int(offset) / chunk
                posted[slot / 64] |= 1 << UInt64(slot % 64)
            }
        }
        let initial = fill.reserve(upTo: fill.size)
        post(initial)
        fill.submit(initial)
        var received = 0
        var first: ContinuousClock.Instant?
        var last = ContinuousClock.now
        var idleSince: ContinuousClock.Instant?
        while true {
            let batch = rx.peek(upTo: 64)
            if batch.count == 0 {
                if fill.needsWakeup { try? receiverSocket.wakeReceive() }
                if shared.generatorDone.load(ordering: .acquiring) {
                    let now = ContinuousClock.now
                    if let idleSince, now - idleSince > .milliseconds(50) { break }
                    if idleSince == nil { idleSince = now }
                }
                continue
            }
            idleSince = nil
            if first == nil { first = .now }
            for index in 0..<batch.count {
                let base = xsk_umem__extract_addr(batch[index].addr)
                let slot = Int(base) / chunk
                posted[slot / 64] &= ~(1 << UInt64(slot % 64))
                cache.free(Fragment(offset: base, length: UInt32(chunk)))
            }
            rx.release(batch)
            received += batch.count
            last = .now
            let refill = fill.reserve(upTo: batch.count)
            post(refill)
            fill.submit(refill)
        }
        let elapsed = last - (first ?? last)
        result.set(received: received, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        cache.drain()
    }
    Thread.sleep(forTimeInterval: 0.1)
    _ = try generate(programs, lab: lab, frames: frames)
    shared.generatorDone.store(true, ordering: .releasing)
    receiver.join()
    let statistics = try socket!.statistics()
    programs.removeSocket(queue: 0)
    socket = nil
    // The socket and its UMEM are closed: what was in the fill ring is ours again.
    reclaim(posted, words: pool.size / chunk / 64, pool: pool, chunk: chunk)
    do { try pool.verifyQuiescent() } catch { print("leak after the RX run: \(error)") }
    let (received, seconds) = result.value
    return (Double(received) / seconds / 1e6, received, statistics)
}

/// Frees the fragments still marked as posted once the socket that held them is closed.
func reclaim(_ posted: UnsafeMutablePointer<UInt64>, words: Int, pool: PagePool, chunk: Int) {
    for word in 0..<words where posted[word] != 0 {
        for bit in 0..<64 where posted[word] & (1 << UInt64(bit)) != 0 {
            pool.free(Fragment(offset: UInt64((word * 64 + bit) * chunk), length: UInt32(chunk)))
        }
        posted[word] = 0
    }
}

/// A thread whose closure is released when it ends, and that can be joined.
final class JoinableThread: @unchecked Sendable {
    private var thread = pthread_t()
    init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box)
    }
    func join() { pthread_join(thread, nil) }
    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}

final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (Int, Double)?
    func set(received: Int, seconds: Double) { lock.withLock { stored = (received, seconds) } }
    var isSet: Bool { lock.withLock { stored != nil } }
    var value: (Int, Double) { lock.withLock { stored! } }
}

let lab = try VethLab()
defer { lab.destroy() }
print("| run | in-kernel XDP_DROP (Mpps) | Swift AF_XDP RX (Mpps) | ratio | RX delivered / sent | XDP_STATISTICS |")
print("|--:|--:|--:|--:|--:|:--|")
var ratios: [Double] = []
var drops: [Double] = []
var receives: [Double] = []
for run in 1...repetitions {
    let drop = try kernelDrop(lab: lab)
    let rx = try swiftReceive(lab: lab)
    let ratio = rx.mpps / drop.mpps
    ratios.append(ratio)
    drops.append(drop.mpps)
    receives.append(rx.mpps)
    print(String(format: "| %d | %.2f | %.2f | %.2f | %d / %d | %@ |", run, drop.mpps, rx.mpps, ratio, rx.received, frames, "\(rx.statistics)"))
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print(String(format: "| median | %.2f | %.2f | %.2f | | |", median(drops), median(receives), median(ratios)))
