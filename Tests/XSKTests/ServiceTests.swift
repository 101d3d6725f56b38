import Foundation
import SystemCalls
import Testing
import VethLab
import XSK
import XSKJobs
import TestSupport

/// xskd as a system service, for real on veth labs: the readiness protocol to a socket this test
/// holds as the service manager's, journal priorities, a service user with exactly the
/// capabilities it needs, a generate run that ends by itself, and metrics that a Prometheus
/// parser and promtool accept.
@Suite("xskd as a service", .serialized, Root.required)
struct ServiceTests {
    typealias RunningDaemon = DaemonTests.RunningDaemon

    @Test("Type=notify: READY=1 once the program is attached and the socket bound, RELOADING=1 and READY=1 on SIGHUP, STOPPING=1 on SIGTERM")
    func readiness() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let manager = try NotifySocket()
        let daemon = try RunningDaemon(
            lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"], environment: ["NOTIFY_SOCKET": manager.path])
        let ready = try #require(manager.receive(), "\(daemon.errors.withLock { $0 })")
        #expect(ready.contains("READY=1") && ready.contains("MAINPID=\(daemon.process.processIdentifier)"), "\(ready)")
        #expect(ready.contains("STATUS=drop on \(lab.deviceInterface), 1 queue(s)"))
        // Ready means attached and receiving: the program is on the interface and frames arrive.
        #expect(try DaemonTests.attached(lab) == "xskd_redirect_f")
        try DaemonTests.generate(lab, count: 100)
        #expect(try eventually { try DaemonTests.queueFields(lab)["rx_packets_total"] == 100 })
        kill(daemon.process.processIdentifier, SIGHUP)
        let reloading = try #require(manager.receive())
        #expect(reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="), "\(reloading)")
        #expect(manager.receive()?.contains("READY=1") == true)
        kill(daemon.process.processIdentifier, SIGTERM)
        let stopping = try #require(manager.receive())
        #expect(stopping.contains("STOPPING=1"), "\(stopping)")
        #expect(daemon.wait() == 0)
        #expect(daemon.output.withLock { $0 }.contains("drain report: every buffer came home"))
    }

    @Test("under the journal (JOURNAL_STREAM is standard error): syslog priorities, no timestamps of its own")
    func journalLines() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let daemon = try RunningDaemon(
            lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--duration", "1", "--stats-interval", "0"], journalStream: true)
        #expect(daemon.wait() == 0)
        let lines = daemon.errors.withLock { $0 }.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.hasPrefix("<") && $0.dropFirst(2).hasPrefix(">xskd: ") }, "\(lines.prefix(5))")
        #expect(lines.contains { $0.hasPrefix("<6>xskd: xskd running") })
        #expect(!lines.contains { $0.contains(" info ") || $0.contains("+0000") }, "no timestamps or level words of its own")

        // A runtime error is priority 2 (critical) or 3 (error): what `journalctl -p err` shows.
        let failing = try RunningDaemon(lab: lab, arguments: ["run", "-i", "xskd-none0"], journalStream: true)
        #expect(failing.wait() == 1)
        let errors = failing.errors.withLock { $0 }
        #expect(errors.contains("<2>xskd: ") || errors.contains("<3>xskd: "), "\(errors)")

        // JOURNAL_STREAM inherited by a process whose standard error is elsewhere: plain lines.
        let inherited = try RunningDaemon(
            lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--duration", "1", "--stats-interval", "0"],
            environment: ["JOURNAL_STREAM": "1:1"])
        #expect(inherited.wait() == 0)
        #expect(inherited.errors.withLock { $0 }.contains(" info xskd: "))
    }

    static let capabilities = "+net_admin,+net_raw,+ipc_lock,+perfmon,+bpf"

    /// Runs as user nobody with `capabilities` in its inheritable and ambient sets.
    static func asServiceUser(_ capabilities: String) -> [String] {
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=\(capabilities)", "--ambient-caps=\(capabilities)"]
    }

    @Test(
        "a service user with exactly the five capabilities runs it as root does; without one, it says which",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv (util-linux)"))
    func serviceUser() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        // What systemd's RuntimeDirectory= gives the service: a directory of its own user.
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("xskd-runtime-\(getpid())").path
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        chown(runtime, 65534, 65534)
        let daemon = try RunningDaemon(
            lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"],
            environment: ["RUNTIME_DIRECTORY": runtime], wrapper: Self.asServiceUser(Self.capabilities))
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        try DaemonTests.generate(lab, count: 500)
        // The same user asks for stats and is answered (its peer credentials are the daemon's).
        let stats = {
            try lab.exec(
                in: .device, "env", "RUNTIME_DIRECTORY=\(runtime)", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                DaemonTests.binary, "stats", "-i", lab.deviceInterface, "--json")
        }
        #expect(try eventually { try stats().contains("\"rx_packets_total\":500") })
        #expect(daemon.terminate() == 0)
        #expect(daemon.output.withLock { $0 }.contains("drain report: every buffer came home"))

        for missing in ["net_admin", "net_raw", "ipc_lock", "perfmon", "bpf"] {
            let fewer = Self.capabilities.split(separator: ",").filter { $0 != "+\(missing)" }.joined(separator: ",")
            // CAP_IPC_LOCK is needed only when RLIMIT_MEMLOCK does not cover the UMEM: none here.
            let limit = missing == "ipc_lock" ? ["/usr/bin/prlimit", "--memlock=0:0"] : []
            let refused = try RunningDaemon(
                lab: lab, arguments: ["run", "-i", lab.deviceInterface], environment: ["RUNTIME_DIRECTORY": runtime],
                wrapper: limit + Self.asServiceUser(fewer))
            #expect(refused.wait() == 1)
            let errors = refused.errors.withLock { $0 }
            #expect(errors.contains("xskd lacks CAP_\(missing.uppercased()) (to "), "\(errors)")
            #expect(errors.contains("as user 65534"))
        }
        #expect(try DaemonTests.attached(lab) == nil, "nothing attached by the refused runs")
    }

    @Test("generate --count ends the run by itself once every queue sent its count: report, exit 0")
    func generateCountEnds() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let started = ContinuousClock.now
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "generate", "--count", "2000", "--rate", "20000", "--stats-interval", "0",
        ])
        #expect(daemon.wait() == 0, "\(daemon.errors.withLock { $0 })")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(daemon.errors.withLock { $0 }.contains("every queue's job finished, stopping"))
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("tx 2000 (sent 2000)"), "\(output)")
        #expect(output.contains("drain report: every buffer came home"))
    }

    /// Every sample of a scrape, parsed by prometheus_client's own parser (Debian's
    /// python3-prometheus-client): "name{labels}" -> value, and each family's type.
    static func scrape(_ lab: VethLab, side: VethLab.Side = .device, url: String) throws -> (samples: [String: Double], types: [String: String], body: String) {
        let script = """
            import json, sys, urllib.request
            from prometheus_client.parser import text_string_to_metric_families
            body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
            samples, types = {}, {}
            for family in text_string_to_metric_families(body):
                types[family.name] = family.type
                for s in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    samples[f"{s.name}{{{labels}}}"] = s.value
            print(json.dumps({"samples": samples, "types": types, "body": body}))
            """
        let text = try lab.exec(in: side, "/usr/bin/python3", "-c", script, url)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return (
            try #require(object["samples"] as? [String: Double]), try #require(object["types"] as? [String: String]),
            try #require(object["body"] as? String)
        )
    }

    @Test(
        "metrics as node_exporter's: every counter at 0 from the start, _total, no rates, build info, UMEM gauges, IPv4 and IPv6 loopback; parsed by prometheus_client and promtool",
        .enabled(if: FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/prometheus_client"), "needs python3-prometheus-client"))
    func metrics() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let port = 20_000 + Int(getpid() % 10_000)
        // The lab turns IPv6 off (no neighbour discovery on its link); the loopback gets it back.
        _ = try lab.exec(in: .device, "sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0")
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--stats-interval", "1", "--metrics", "\(port)", "--ring-size", "16384", "--fill-size", "16384",
        ])
        #expect(daemon.waitFor("http://[::1]:\(port)/metrics"), "\(daemon.errors.withLock { $0 })")
        #expect(daemon.waitFor("http://127.0.0.1:\(port)/metrics"))
        let queue = "interface=\"\(lab.deviceInterface)\",queue=\"0\""
        let pool = "interface=\"\(lab.deviceInterface)\""

        // Before any frame: every field exists, counters at 0.
        let first = try Self.scrape(lab, url: "http://127.0.0.1:\(port)/metrics")
        for field in QueueSample.fields.map(\.name) {
            #expect(first.samples["xskd_\(field){\(queue)}"] != nil, "xskd_\(field) missing at start")
            if field.hasSuffix("_total") {
                #expect(first.types["xskd_\(field.dropLast("_total".count))"] == "counter", "xskd_\(field) typed counter")
            }
        }
        // Counters that only traffic moves are there at 0 (the fill ring's are not: it was filled).
        for field in ["rx_packets_total", "rx_bytes_total", "tx_packets_total", "tx_bytes_total", "tx_completions_total", "invalid_lengths_total"] {
            #expect(first.samples["xskd_\(field){\(queue)}"] == 0, "xskd_\(field)")
        }
        #expect(first.samples["xskd_build_info{version=\"\(PackageVersion.current)\"}"] == 1)
        // Sized for the rings asked: (16384 + 2 x 16384) buffers of 2 KiB + 1 MiB, in 2 MiB pages.
        #expect(first.samples["xskd_umem_size_bytes{\(pool)}"] == Double(98 << 20))
        #expect(first.samples["xskd_umem_free_bytes{\(pool)}"] ?? 0 > 0)
        #expect(first.samples["xskd_buffers_outstanding{\(pool)}"] != nil)
        #expect(first.samples["xskd_start_time_seconds{\(pool)}"] ?? 0 > Date().timeIntervalSince1970 - 120)
        #expect(!first.body.contains("per_second"), "no rate gauges")

        try DaemonTests.generate(lab, count: 4000)
        #expect(try eventually(timeout: .seconds(5)) {
            try Self.scrape(lab, url: "http://[::1]:\(port)/metrics").samples["xskd_rx_packets_total{\(queue)}"] == 4000
        })
        let after = try Self.scrape(lab, url: "http://[::1]:\(port)/metrics")
        #expect(after.samples["xskd_xdp_redirected_total{\(queue)}"] == 4000)
        // The fill ring's buffers are out of the pool (the first scrape may precede the fill).
        #expect(after.samples["xskd_buffers_outstanding{\(pool)}"] ?? 0 > 0)
        #expect(after.samples["xskd_rx_bytes_total{\(queue)}"].map { Int($0) } == 4000 * 64, "\(String(describing: after.samples["xskd_rx_bytes_total{\(queue)}"]))")

        // promtool's own linter (Debian's prometheus package), where installed.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("xskd-metrics-\(getpid()).txt")
            try after.body.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let lint = try VethLab.run("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \(file.path) 2>&1; echo status=$?"])
            #expect(lint.hasSuffix("status=0\n"), "\(lint)")
        }
        #expect(daemon.terminate() == 0)

        let bad = try RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--metrics", "localhost:http"])
        #expect(bad.wait() == 64)
        #expect(bad.errors.withLock { $0 }.contains("metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"))
    }
}
