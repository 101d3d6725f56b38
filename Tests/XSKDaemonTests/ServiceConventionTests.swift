import Foundation
import Logging
import Testing
@testable import XSKDaemon
import DaemonInput
import XSK
import XSKJobs
import TestSupport

/// What a service manager, a journal, a metrics scraper and a stats client expect of the
/// daemon, checked without root or a kernel: the readiness protocol against a socket this test
/// listens on, syslog priorities, the capability check, the one vocabulary of the fields, the
/// table and its client-side rates, and the metrics listen addresses.
@Suite("service conventions")
struct ServiceConventionTests {
    @Test("sd_notify: READY=1 with a status and the main PID, RELOADING=1 with a monotonic time, STOPPING=1; path and abstract sockets", arguments: [false, true])
    func readinessProtocol(abstract: Bool) throws {
        let manager = try NotifySocket(abstract: abstract, timeoutSeconds: 2)
        let notifier = ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": manager.path], logger: Logger(label: "test"))
        #expect(notifier.isActive)
        notifier.ready(status: "drop on eth1, 1 queue(s)")
        let ready = try #require(manager.receiveFields())
        #expect(ready["READY"] == "1")
        #expect(ready["STATUS"] == "drop on eth1, 1 queue(s)")
        #expect(ready["MAINPID"] == "\(getpid())")
        notifier.reloading()
        let reloading = try #require(manager.receiveFields())
        #expect(reloading["RELOADING"] == "1")
        #expect(UInt64(reloading["MONOTONIC_USEC"] ?? "") ?? 0 > 0)
        notifier.stopping(status: "draining the queues")
        #expect(manager.receiveFields()?["STOPPING"] == "1")
    }

    @Test("sd_notify outside a service manager: no NOTIFY_SOCKET (or a relative one) sends nothing")
    func noServiceManager() {
        #expect(!ServiceManagerNotifier(environment: [:], logger: Logger(label: "test")).isActive)
        #expect(!ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "relative/path"], logger: Logger(label: "test")).isActive)
        ServiceManagerNotifier(environment: [:], logger: Logger(label: "test")).ready(status: "nothing listens")
    }

    @Test("journal: syslog priorities per level; JOURNAL_STREAM must name standard error itself")
    func journalPriorities() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.debug) == 7)
        var status = stat()
        fstat(STDERR_FILENO, &status)
        #expect(JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"]))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino &+ 1)"]))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: [:]))
    }

    @Test("capabilities: the effective set from /proc/PID/status, and an error naming each one missing")
    func capabilities() throws {
        let all = Capabilities.required.reduce(UInt64(0)) { $0 | (1 << UInt64($1.bit)) }
        #expect(Capabilities(mask: all).missingError(uid: 0) == nil)
        #expect(Capabilities(mask: ~0).missing.isEmpty)
        let withoutBPF = Capabilities(mask: all & ~(1 << 39))
        let error = try #require(withoutBPF.missingError(uid: 998))
        #expect(error.contains("CAP_BPF (to load the XDP program"), "\(error)")
        #expect(!error.contains("lacks CAP_NET_ADMIN"))
        #expect(error.contains("as user 998"))
        #expect(error.contains("AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_PERFMON CAP_BPF"))
        #expect(Capabilities(mask: 0).missing.count == 5)
        // CAP_IPC_LOCK only where RLIMIT_MEMLOCK does not cover the UMEM.
        let withoutLock = Capabilities(mask: all & ~(1 << 14))
        #expect(withoutLock.missingError(uid: 0, lockedMemoryLimit: 0, umemBytes: 64 << 20)?.contains("CAP_IPC_LOCK") == true)
        #expect(withoutLock.missingError(uid: 0, lockedMemoryLimit: 8 << 20, umemBytes: 64 << 20)?.contains("CAP_IPC_LOCK") == true)
        #expect(withoutLock.missingError(uid: 0, lockedMemoryLimit: 64 << 20, umemBytes: 64 << 20) == nil)
        #expect(withoutLock.missingError(uid: 0, lockedMemoryLimit: nil, umemBytes: 64 << 20) == nil)
        let status = "Name:\txskd\nCapInh:\t0000000000000000\nCapEff:\t000000c000007000\nCapBnd:\t000001ffffffffff\n"
        #expect(Capabilities.parse(status: status)?.mask == all)
        #expect(Capabilities.parse(status: "Name:\tx\n") == nil)
        #expect(Capabilities.effective() != nil, "this process's own set is readable")
    }

    @Test("one vocabulary: every field snake_case and unique, counters end in _total, gauges do not")
    func fieldNames() {
        let names = QueueSample.fields.map(\.name)
        #expect(Set(names).count == names.count)
        for field in QueueSample.fields {
            #expect(field.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(field.name)")
            #expect((field.kind == .counter) == field.name.hasSuffix("_total"), "\(field.name)")
            #expect(!field.help.isEmpty && !field.unit.isEmpty)
        }
        // Transmit packets and bytes are counted at the same point; completions apart.
        #expect(names.contains("tx_packets_total") && names.contains("tx_bytes_total") && names.contains("tx_completions_total"))
    }

    static func snapshotJSON(at time: Double, rx: UInt64, started: Double = 1000, umem: Int = 64 << 20) -> String {
        var queue: [String: Any] = ["interface": "eth1", "queue": 0]
        for field in QueueSample.fields { queue[field.name] = 0 }
        queue["rx_packets_total"] = rx
        queue["buffers_in_fill_ring"] = 4096
        let object: [String: Any] = [
            "version": PackageVersion.current, "interface": "eth1", "job": "drop",
            "timestamp_seconds": time, "start_time_seconds": started, "uptime_seconds": time - started,
            "queues": [queue, queue.merging(["queue": 1]) { $1 }],
            "umem_size_bytes": umem, "umem_free_bytes": umem - (4 << 20), "buffers_outstanding": 4096,
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("stats table: at most 100 columns, rows named as the JSON, rates only from two snapshots the client took")
    func table() throws {
        let first = try JSONDecoder().decode(StatusSnapshot.self, from: Data(Self.snapshotJSON(at: 1010, rx: 1_000_000).utf8))
        let second = try JSONDecoder().decode(StatusSnapshot.self, from: Data(Self.snapshotJSON(at: 1012, rx: 5_000_000).utf8))
        let once = first.table()
        #expect(once.contains("up 10 s"))
        #expect(once.contains("rx_packets_total") && once.contains("1000000"))
        #expect(once.contains("buffers_in_fill_ring") && once.contains("4096"))
        #expect(!once.contains(" M\n") && !once.contains("per second"), "no rate from one snapshot")
        #expect(!once.contains("xdp_passed_total"), "counters at 0 are left out")
        #expect(once.contains("counters at 0 not shown"))
        #expect(first.table(all: true).contains("xdp_passed_total"))
        let watched = second.table(previous: first)
        // (5,000,000 - 1,000,000) frames over 2 s.
        #expect(watched.contains("2.000 M"), "\(watched)")
        #expect(watched.contains("per second"))
        for table in [once, watched, first.table(all: true)] {
            #expect(table.split(separator: "\n").allSatisfy { $0.count <= 100 }, "\(table)")
        }
        #expect(watched.components(separatedBy: "queue 1 on eth1").count == 2, "a block per queue")

        // The largest UMEM the options take still fits.
        let huge = try JSONDecoder().decode(StatusSnapshot.self, from: Data(Self.snapshotJSON(at: 1010, rx: 1, umem: 65536 << 20).utf8))
        #expect(huge.table().split(separator: "\n").allSatisfy { $0.count <= 100 }, "\(huge.table())")
        // A restart between two snapshots (counters back near 0): no rates, and it says so.
        let restarted = try JSONDecoder().decode(StatusSnapshot.self, from: Data(Self.snapshotJSON(at: 1013, rx: 10, started: 1012.5).utf8))
        let afterRestart = restarted.table(previous: second)
        #expect(afterRestart.contains("restarted"))
        #expect(!afterRestart.contains(" G") && !afterRestart.contains(" M\n") && !afterRestart.contains(" k\n"), "\(afterRestart)")
    }

    @Test("metrics addresses: a bare port is both loopbacks, IPv4 as is, IPv6 in brackets; anything else refused")
    func metricsAddresses() {
        #expect(OptionValues.metricsAddress("19741") == .init(addresses: ["127.0.0.1", "::1"], port: 19741))
        #expect(OptionValues.metricsAddress("0.0.0.0:19741") == .init(addresses: ["0.0.0.0"], port: 19741))
        #expect(OptionValues.metricsAddress("[::]:19741") == .init(addresses: ["::"], port: 19741))
        #expect(OptionValues.metricsAddress("[fe80::1]:80") == .init(addresses: ["fe80::1"], port: 80))
        for bad in ["0", "::1:80", "[::1]", "[::1]80", "[::1]:", "[zz]:80", "localhost:80", "1.2.3:80", "[1.2.3.4]:80", "1.2.3.4:0"] {
            #expect(OptionValues.metricsAddress(bad) == nil, "\(bad)")
        }
    }
}
