import Foundation
import SystemCalls
import Testing
import TestSupport
import VethLab
@testable import XSK

enum LongTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["XSKD_LONG_TESTS"] != nil }
    /// Long tests run with `scripts/test --long` (or XSKD_LONG_TESTS=1); CI runs the short ones.
    static let required = ConditionTrait.enabled(if: enabled, "long test: run with scripts/test --long (XSKD_LONG_TESTS=1)")
    static var soakSeconds: Int { ProcessInfo.processInfo.environment["XSKD_SOAK_SECONDS"].flatMap(Int.init) ?? 600 }
}

/// The long runs whose last results RELIABILITY.md records: a soak under traffic with restarts
/// and reloads, and kill -9 a hundred times.
@Suite("Long runs", .serialized, Root.required, LongTests.required)
struct LongRunningTests {
    /// Resident memory of a process, in KiB (VmRSS), or nil once it is gone.
    @Test("soak: traffic throughout, xskd restarted every 30 s and sent SIGHUP every 10 s; flat memory, every buffer home at each stop")
    func soak() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let total = LongTests.soakSeconds
        let path = try DaemonTests.writeConfig("""
            {"interface": "\(lab.deviceInterface)", "stats-interval": 0, "filter": {"ethertype": "0x88b5"}}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let traffic = try BackgroundTraffic(lab, burst: 10_000, limit: .seconds(Int64(total + 60)))
        defer { traffic.stop() }
        let end = ContinuousClock.now + .seconds(Int64(total))
        var cycles: [(rx: UInt64, early: Int, late: Int)] = []
        while ContinuousClock.now < end {
            let daemon = try DaemonTests.RunningDaemon(lab: lab, arguments: ["run", "--config", path, "--job", cycles.count % 2 == 0 ? "drop" : "reflect"])
            try #require(daemon.waitFor("xskd running"), "cycle \(cycles.count + 1): \(daemon.errors.withLock { $0 })")
            let pid = daemon.process.processIdentifier
            var early = 0
            var late = 0
            for tick in 1...3 {
                usleep(10_000_000)
                if tick == 1 { early = (ResidentMemory.bytes(of: pid) ?? 0) / 1024 }
                if tick < 3 { kill(pid, SIGHUP) }
                late = (ResidentMemory.bytes(of: pid) ?? 0) / 1024
            }
            #expect(daemon.terminate() == 0)
            let errors = daemon.errors.withLock { $0 }
            let output = daemon.output.withLock { $0 }
            #expect(errors.components(separatedBy: "filter reloaded").count - 1 == 2, "cycle \(cycles.count + 1): \(errors)")
            #expect(!errors.contains(" error ") && !errors.contains(" critical "), "cycle \(cycles.count + 1): \(errors)")
            #expect(output.contains("drain report: every buffer came home"), "cycle \(cycles.count + 1): \(output)")
            let rx = output.split(separator: "\n").first(where: { $0.hasPrefix("stopped ") })
                .flatMap { $0.split(separator: "rx ").dropFirst().first?.split(separator: ",").first }.flatMap { UInt64($0) } ?? 0
            #expect(rx > 0, "cycle \(cycles.count + 1): frames arrived")
            cycles.append((rx, early, late))
        }
        traffic.stop()
        let first = try #require(cycles.first)
        let largest = cycles.map(\.late).max() ?? 0
        for (index, cycle) in cycles.enumerated() {
            print("soak cycle \(index + 1): rx \(cycle.rx), resident \(cycle.early) KiB at 10 s, \(cycle.late) KiB at 30 s")
        }
        print("soak: \(cycles.count) cycles in \(total) s, \(cycles.map(\.rx).reduce(0, +)) frames, resident at 30 s \(first.late)...\(largest) KiB")
        // Each run is a new process: flat means no cycle ends far above the first, and no run
        // grows much between 10 s and 30 s.
        #expect(largest - first.late < 8192, "resident memory grew from \(first.late) to \(largest) KiB")
        #expect(cycles.allSatisfy { $0.late - $0.early < 4096 }, "\(cycles)")
    }

    @Test("kill -9 in the middle of traffic, then start again: 100 times in a row")
    func killNineHundredTimes() throws {
        try DaemonFaultTests.killUnderTraffic(rounds: 100)
    }
}
