import Foundation
import SystemCalls
import Testing
import VethLab
@testable import XSK
import TestSupport

/// Generator traffic on a lab's generator end until stopped: bursts of live frames, as fast as
/// the veth takes them, bounded in time. Errors (the link down, the interface gone) are counted
/// and waited out, never fatal: the faults under test cause them.
final class BackgroundTraffic: @unchecked Sendable {
    private let stopping = LockedFlag()
    private let sent = LockedValue((bursts: 0, failures: 0))
    private var thread: JoinableThread?

    /// Frames of `length` bytes (at most what the kernel's live-frames test run takes, ~3.5 KB).
    init(_ lab: VethLab, burst: Int = 1000, length: Int = 64, limit: Duration = .seconds(120)) throws {
        let programs = try XDPPrograms(logger: TestLog.logger)
        let stopping = stopping
        let sent = sent
        thread = JoinableThread {
            let end = ContinuousClock.now + limit
            try? lab.run(in: .generator) {
                while !stopping.get(), ContinuousClock.now < end {
                    do {
                        try programs.generate(
                            frame: TestFrame.make(length: length), count: burst,
                            on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset)
                        sent.withLock { $0.bursts += 1 }
                        usleep(1000)
                    } catch {
                        sent.withLock { $0.failures += 1 }
                        usleep(10_000)
                    }
                }
            }
        }
    }

    var bursts: Int { sent.withLock { $0.bursts } }

    func stop() {
        stopping.set()
        thread?.join()
        thread = nil
    }

    deinit { stop() }
}

/// The daemon under faults: the link flapping, the interface deleted, kill -9 mid-traffic.
@Suite("xskd under faults", .serialized, Root.required)
struct DaemonFaultTests {
    typealias RunningDaemon = DaemonTests.RunningDaemon

    /// Frames the daemon's queue 0 has received, from `xskd stats --json` (nil when it does not answer).
    static func received(_ lab: VethLab) -> UInt64? {
        guard let json = try? VethLab.run(DaemonTests.binary, ["stats", "-i", lab.deviceInterface, "--json"]),
            let snapshot = try? JSONDecoder().decode(DaemonTests.StatusSnapshotView.self, from: Data(json.utf8))
        else { return nil }
        return snapshot.queues.first?.rxPackets
    }

    static func receivedMore(_ lab: VethLab, than count: UInt64) -> Bool {
        eventually(timeout: .seconds(5)) { (received(lab) ?? 0) > count }
    }

    /// xskd's drop job on the lab's device end, receiving the generator's traffic.
    static func runUnderTraffic(_ lab: VethLab) throws -> (RunningDaemon, BackgroundTraffic) {
        let daemon = try RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"])
        #expect(daemon.waitFor("xskd running"))
        let traffic = try BackgroundTraffic(lab)
        #expect(Self.receivedMore(lab, than: 0))
        return (daemon, traffic)
    }

    @Test("the link goes down and up under traffic: xskd logs both, keeps its sockets, traffic resumes by itself, nothing leaks")
    func linkDownAndUp() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let (daemon, traffic) = try Self.runUnderTraffic(lab)
        defer { traffic.stop() }

        try lab.exec(in: .device, "ip", "link", "set", lab.deviceInterface, "down")
        #expect(daemon.waitFor("link down"), "\(daemon.errors.withLock { $0 })")
        usleep(300_000)
        let whileDown = try #require(Self.received(lab))
        usleep(500_000)
        #expect(Self.received(lab) == whileDown, "nothing arrives on a link that is down")

        try lab.exec(in: .device, "ip", "link", "set", lab.deviceInterface, "up")
        #expect(daemon.waitFor("link up again"), "\(daemon.errors.withLock { $0 })")
        #expect(Self.receivedMore(lab, than: whileDown), "traffic resumes on the same sockets")
        traffic.stop()

        #expect(daemon.terminate() == 0)
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
        #expect(try eventually { try DaemonTests.attached(lab) == nil })
    }

    @Test("the interface is deleted under traffic: a clear error, the drain report, exit 1, nothing left behind")
    func interfaceDeleted() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let (daemon, traffic) = try Self.runUnderTraffic(lab)
        defer { traffic.stop() }

        try lab.exec(in: .device, "ip", "link", "delete", lab.deviceInterface)
        let status = daemon.wait()
        traffic.stop()
        let errors = daemon.errors.withLock { $0 }
        #expect(daemon.process.terminationReason == .exit, "no crash signal")
        #expect(status == 1, "\(errors)")
        #expect(errors.contains("interface \(lab.deviceInterface) disappeared"), "\(errors)")
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: "/run/xskd/\(lab.deviceInterface).sock"))
    }

    /// Starts xskd, waits for frames, kills it with SIGKILL, and checks nothing stays
    /// attached; `rounds` times, then one clean run.
    static func killUnderTraffic(rounds: Int) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let traffic = try BackgroundTraffic(lab, limit: .seconds(Int64(30 + rounds * 3)))
        defer { traffic.stop() }
        for round in 1...rounds {
            let daemon = try RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"])
            let started = daemon.waitFor("xskd running")
            let errors = daemon.errors.withLock { $0 }
            #expect(started, "round \(round): \(errors)")
            #expect(!errors.contains("EBUSY"), "round \(round): \(errors)")
            guard started else {
                _ = daemon.terminate(signal: SIGKILL)
                return
            }
            #expect(Self.receivedMore(lab, than: 0), "round \(round): frames arrive")
            #expect(daemon.terminate(signal: SIGKILL) == SIGKILL)
            #expect(try eventually { try DaemonTests.attached(lab) == nil }, "round \(round)")
        }
        let last = try RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"])
        #expect(last.waitFor("xskd running"))
        #expect(Self.receivedMore(lab, than: 0))
        traffic.stop()
        #expect(last.terminate() == 0)
        #expect(last.output.withLock { $0 }.contains("drain report: every buffer came home"))
    }

    @Test("kill -9 in the middle of traffic, then start again: up at once, no EBUSY, no clean-up, 20 times in a row")
    func killNineTwentyTimes() throws {
        try Self.killUnderTraffic(rounds: 20)
    }
}
