import Foundation
import Testing
import VethLab
@testable import XSK
import TestSupport

/// Every option and config key with wrong values, run through the built binary: each must end
/// in a one-line error naming the problem (and what is accepted where the value is ours to
/// check), exit 64 for usage errors and 1 for runtime ones, never a crash signal, and leave
/// nothing attached and nothing in /run.
@Suite("xskd refuses bad input", .serialized, Root.required)
struct BadInputTests {
    struct Outcome {
        var status: Int32
        var signalled: Bool
        var errors: String
    }

    static func run(_ lab: VethLab, _ arguments: [String]) throws -> Outcome {
        let daemon = try DaemonTests.RunningDaemon(lab: lab, arguments: arguments)
        let status = daemon.wait()
        return Outcome(status: status, signalled: daemon.process.terminationReason == .uncaughtSignal, errors: daemon.errors.withLock { $0 })
    }

    /// The checks every refusal must pass.
    static func expectRefused(
        _ outcome: Outcome, status: Int32, saying fragment: String, _ what: String, lab: VethLab,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(!outcome.signalled, "\(what): killed by a signal", sourceLocation: sourceLocation)
        #expect(outcome.status == status, "\(what): exit \(outcome.status), wanted \(status): \(outcome.errors)", sourceLocation: sourceLocation)
        let lines = outcome.errors.split(separator: "\n").filter { $0.contains(fragment) }
        #expect(lines.count >= 1, "\(what): no line says '\(fragment)': \(outcome.errors)", sourceLocation: sourceLocation)
        #expect(try DaemonTests.attached(lab) == nil, "\(what): a program stayed attached", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: "/run/xskd/\(lab.deviceInterface).sock"), "\(what): a socket stayed in /run", sourceLocation: sourceLocation)
    }

    @Test("every command-line option with wrong values")
    func commandLine() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let interface = lab.deviceInterface
        let usage: Int32 = 64
        let runtime: Int32 = 1
        // (arguments after `run -i IF`, exit status, what the error says)
        let cases: [([String], Int32, String)] = [
            (["--bogus"], usage, "Unknown option '--bogus'"),
            (["--queues"], usage, "Missing value for '--queues <queues>'"),
            (["--queues", ""], usage, "queues must be 'all' or a list of distinct queue numbers"),
            (["--queues", "0,0"], usage, "queues must be 'all' or a list of distinct queue numbers"),
            (["--queues=-1"], usage, "queues must be 'all' or a list of distinct queue numbers"),
            (["--queues", "99999999999"], usage, "queues must be 'all' or a list of distinct queue numbers"),
            (["--queues", "7"], runtime, "queue 7 does not exist on \(interface): it has 1 (0...0)"),
            (["--job", "juggle"], usage, "The value 'juggle' is invalid for '--job <job>'"),
            (["--job", "capture"], usage, "the capture job needs its file: --write FILE"),
            (["--job", "capture", "--write", "/nonexistent-xskd-dir/x.pcapng"], runtime, "cannot open capture file /nonexistent-xskd-dir/x.pcapng: ENOENT"),
            (["--tap", "x.pcapng", "--snap-length", "70000"], usage, "snap-length must be 1...65535 bytes, not 70000"),
            (["--xdp-mode", "fast"], usage, "Please provide one of"),
            (["--bind-mode", "fast"], usage, "Please provide one of"),
            (["--fill-strategy", "fast"], usage, "Please provide one of"),
            (["--wait", "fast"], usage, "Please provide one of"),
            (["--hugepages", "maybe"], usage, "Please provide one of"),
            (["--log-level", "loud"], usage, "Please provide one of"),
            (["--umem-size", "0"], usage, "umem-size must be 1...65536 MiB, not 0"),
            (["--umem-size=-5"], usage, "umem-size must be 1...65536 MiB, not -5"),
            (["--umem-size", "70000"], usage, "umem-size must be 1...65536 MiB, not 70000"),
            (["--umem-size", "abc"], usage, "The value 'abc' is invalid for '--umem-size <umem-size>'"),
            (["--umem-size", "99999999999999999999"], usage, "is invalid for '--umem-size <umem-size>'"),
            (["--umem-size", "65536"], runtime, "umem-size 65536 MiB is more than this machine can pin now"),
            (["--batch", "0"], usage, "batch must be 1...1024, not 0"),
            (["--batch", "2000"], usage, "batch must be 1...1024, not 2000"),
            (["--batch", "x"], usage, "is invalid for '--batch <batch>'"),
            (["--ring-size", "1000"], usage, "ring-size must be a power of two from 64 to 65536, not 1000"),
            (["--ring-size", "0"], usage, "ring-size must be a power of two from 64 to 65536, not 0"),
            (["--ring-size", "131072"], usage, "ring-size must be a power of two from 64 to 65536, not 131072"),
            (["--ring-size=-1"], usage, "is invalid for '--ring-size <ring-size>'"),
            (["--fill-size", "32"], usage, "fill-size must be a power of two from 64 to 65536, not 32"),
            (["--busy-poll", "0"], usage, "busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET"),
            (["--busy-poll", "20:0"], usage, "busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET"),
            (["--busy-poll", "20:70000"], usage, "busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET"),
            (["--busy-poll", "1:2:3"], usage, "busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET"),
            (["--fragment-mtu", "10"], usage, "fragment-mtu must be 68...9000, not 10"),
            (["--fragment-mtu", "10000"], usage, "fragment-mtu must be 68...9000, not 10000"),
            (["--cpus", "a"], usage, "cpus must be a comma-separated list of CPU numbers"),
            (["--cpus", "0,,1"], usage, "cpus must be a comma-separated list of CPU numbers"),
            (["--cpus=-1"], usage, "cpus must be a comma-separated list of CPU numbers"),
            (["--cpus", "4000"], runtime, "cpu 4000 does not exist"),
            (["--cpus", "0,1"], runtime, "--cpus lists 2 CPUs for 1 queue(s)"),
            (["--filter-ethertype", "zz"], usage, "filter ethertype must be a 16-bit hexadecimal number"),
            (["--filter-ethertype", "0x12345"], usage, "filter ethertype must be a 16-bit hexadecimal number"),
            (["--filter-ip-protocol", "256"], usage, "is invalid for '--filter-ip-protocol <filter-ip-protocol>'"),
            (["--filter-ip-protocol", "udp"], usage, "is invalid for '--filter-ip-protocol <filter-ip-protocol>'"),
            (["--filter-ports", "90-80"], usage, "filter ports must be a port or a range such as 9000-9100"),
            (["--filter-ports", "0-"], usage, "filter ports must be a port or a range such as 9000-9100"),
            (["--filter-ports", "70000"], usage, "filter ports must be a port or a range such as 9000-9100"),
            (["--job", "forward"], usage, "the forward job needs the second interface: --to NAME"),
            (["--job", "forward", "--to", interface], usage, "--to must name another interface than --interface"),
            (["--job", "forward", "--to", "nosuch0"], runtime, "interface nosuch0 does not exist"),
            (["--size", "59"], usage, "size must be 60...9000 bytes, not 59"),
            (["--size", "9001"], usage, "size must be 60...9000 bytes, not 9001"),
            (["--rate=-1"], usage, "rate must be 0...100000000 frames per second"),
            (["--rate", "nan"], usage, "rate must be 0...100000000 frames per second"),
            (["--rate", "1e12"], usage, "rate must be 0...100000000 frames per second"),
            (["--count", "0"], usage, "count must be positive, not 0"),
            (["--destination-mac", "01:02"], usage, "destination-mac must be a MAC address such as 02:00:00:00:00:01"),
            (["--destination-mac", "zz:zz:zz:zz:zz:zz"], usage, "destination-mac must be a MAC address"),
            (["--metrics", "abc"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "0"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "70000"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "999.1.1.1:9100"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "::1:9100"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "[::1]"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--metrics", "[fe80::zz]:9100"], usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (["--duration", "0"], usage, "duration must be a positive number of seconds, not 0"),
            (["--duration", "nan"], usage, "duration must be a positive number of seconds"),
            (["--duration", "x"], usage, "is invalid for '--duration <duration>'"),
            (["--stats-interval=-1"], usage, "stats-interval must be 0...3600 seconds"),
            (["--stats-interval", "4000"], usage, "stats-interval must be 0...3600 seconds"),
            (["--config", "/nonexistent/xskd.json"], usage, "cannot read config file /nonexistent/xskd.json"),
        ]
        for (arguments, status, fragment) in cases {
            let outcome = try Self.run(lab, ["run", "-i", interface] + arguments)
            try Self.expectRefused(outcome, status: status, saying: fragment, "\(arguments)", lab: lab)
        }
        // The interface itself.
        for (name, fragment) in [("", "must be 1 to 15 bytes"), (String(repeating: "x", count: 16), "must be 1 to 15 bytes"), ("nosuch0", "interface nosuch0 does not exist")] {
            try Self.expectRefused(Self.run(lab, ["run", "-i", name]), status: 1, saying: fragment, "interface '\(name)'", lab: lab)
        }
        try Self.expectRefused(Self.run(lab, ["run"]), status: 64, saying: "give the interface: --interface NAME", "no interface", lab: lab)
        try Self.expectRefused(Self.run(lab, ["run", "-i"]), status: 64, saying: "Missing value for '-i <interface>'", "-i alone", lab: lab)
        try Self.expectRefused(Self.run(lab, ["juggle"]), status: 64, saying: "Unexpected argument 'juggle'", "unknown command", lab: lab)
        try Self.expectRefused(Self.run(lab, ["stats", "-i", interface]), status: 1, saying: "no xskd is running on this interface (/run/xskd/\(interface).sock does not exist)", "stats, nobody running", lab: lab)
        print("bad input: \(cases.count + 7) command lines refused")
    }

    @Test("every config key with wrong values")
    func configKeys() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let interface = lab.deviceInterface
        let usage: Int32 = 64
        // (JSON members after the interface, exit status, what the error says)
        let cases: [(String, Int32, String)] = [
            (#""bach": 64"#, usage, "unknown key 'bach' (known: batch, bind-mode,"),
            (#""interface": 5"#, usage, "'interface' has the wrong type"),
            (#""queues": [0, 1]"#, usage, "'queues' has the wrong type"),
            (#""queues": "0,x""#, usage, "queues must be 'all' or a list of distinct queue numbers"),
            (#""queues": "3""#, 1, "queue 3 does not exist on " + interface),
            (#""job": 1"#, usage, "'job' has the wrong type"),
            (#""job": "juggle""#, usage, "'juggle' is not a valid job (accepted: drop, reflect, generate, forward, latency, capture)"),
            (#""xdp-mode": "fast""#, usage, "'fast' is not a valid xdp-mode (accepted: "),
            (#""bind-mode": "fast""#, usage, "'fast' is not a valid bind-mode (accepted: auto, copy, zero-copy)"),
            (#""fill-strategy": "fast""#, usage, "'fast' is not a valid fill-strategy (accepted: fragment-cache, descriptor-slots)"),
            (#""wait": "fast""#, usage, "'fast' is not a valid wait (accepted: spin, poll, adaptive)"),
            (#""hugepages": true"#, usage, "'hugepages' has the wrong type"),
            (#""hugepages": "maybe""#, usage, "'maybe' is not a valid hugepages (accepted: auto, on, off)"),
            (#""log-level": "loud""#, usage, "'loud' is not a valid log-level (accepted: trace, debug"),
            (#""umem-size": "64""#, usage, "'umem-size' has the wrong type"),
            (#""umem-size": -1"#, usage, "umem-size must be 1...65536 MiB, not -1"),
            (#""umem-size": 1e30"#, usage, "'umem-size' has the wrong type: it must be an integer"),
            (#""batch": 0"#, usage, "batch must be 1...1024, not 0"),
            (#""batch": 1.5"#, usage, "'batch' has the wrong type: it must be an integer"),
            (#""ring-size": -64"#, usage, "'ring-size' must be an integer from 0 to 4294967295, not -64"),
            (#""ring-size": 100"#, usage, "ring-size must be a power of two from 64 to 65536, not 100"),
            (#""fill-size": 1048576"#, usage, "fill-size must be a power of two from 64 to 65536, not 1048576"),
            (#""cpus": 0"#, usage, "'cpus' has the wrong type"),
            (#""cpus": "0,x""#, usage, "cpus must be a comma-separated list of CPU numbers"),
            (#""filter": "udp""#, usage, "'filter' has the wrong type"),
            (#""filter": {"ip-protocol": 300}"#, usage, "'filter.ip-protocol' must be an integer from 0 to 255, not 300"),
            (#""filter": {"ethertype": 2048}"#, usage, "'filter.ethertype' has the wrong type"),
            (#""filter": {"ethertype": "ipv4"}"#, usage, "filter ethertype must be a 16-bit hexadecimal number such as 0x0800"),
            (#""filter": {"ports": 80}"#, usage, "'filter.ports' has the wrong type"),
            (#""filter": {"ports": "80-"}"#, usage, "filter ports must be a port or a range such as 9000-9100"),
            (#""filter": {"port": "80"}"#, usage, "unknown filter key 'port' (known: ethertype, ip-protocol, ports)"),
            (#""force": "yes""#, usage, "'force' has the wrong type"),
            (#""duration": "10""#, usage, "'duration' has the wrong type"),
            (#""duration": -1"#, usage, "duration must be a positive number of seconds, not -1"),
            (#""stats-interval": -1"#, usage, "stats-interval must be 0...3600 seconds"),
            (#""size": 10"#, usage, "size must be 60...9000 bytes, not 10"),
            (#""rate": -1"#, usage, "rate must be 0...100000000 frames per second"),
            (#""count": 0"#, usage, "count must be positive, not 0"),
            (#""destination-mac": "ff""#, usage, "destination-mac must be a MAC address such as 02:00:00:00:00:01"),
            (#""job": "forward""#, usage, "the forward job needs the second interface: --to NAME"),
            ("\"to\": \"\(interface)\"", usage, "--to must name another interface than --interface"),
            (#""metrics": "localhost:80""#, usage, "metrics must be PORT, IPv4-ADDRESS:PORT or [IPv6-ADDRESS]:PORT"),
            (#""metrics": 9100"#, usage, "'metrics' has the wrong type"),
            (#""busy-poll": "fast""#, usage, "busy-poll must be MICROSECONDS or MICROSECONDS:BUDGET"),
            (#""fragment-mtu": 0"#, usage, "fragment-mtu must be 68...9000, not 0"),
        ]
        for (members, status, fragment) in cases {
            // Each case's own key replaces the interface rather than repeating a key.
            let body = members.hasPrefix(#""interface""#) ? "{\(members)}" : #"{"interface": "\#(interface)", \#(members)}"#
            let path = try DaemonTests.writeConfig(body)
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Self.expectRefused(Self.run(lab, ["run", "--config", path]), status: status, saying: fragment, members, lab: lab)
        }
        // Whole files that are not what xskd reads.
        let files: [(String, String)] = [
            ("", "is not valid JSON"),
            (#"{"interface": "#, "is not valid JSON"),
            ("[1, 2]", "must hold a JSON object"),
            ("null", "must hold a JSON object"),
            (String(repeating: " ", count: 2 << 20) + "{}", "is larger than 1 MiB"),
            (String(repeating: "[", count: 100_000), "is not valid JSON"),
            (#"{"interface": "x", "ring-size": 2048, "ring-size": 4096}"#, "names 'ring-size' twice: keep one"),
        ]
        for (path, fragment) in [("/dev/zero", "is larger than 1 MiB"), ("/tmp", "cannot read config file /tmp")] {
            try Self.expectRefused(Self.run(lab, ["run", "--config", path]), status: usage, saying: fragment, path, lab: lab)
        }
        for (text, fragment) in files {
            let path = try DaemonTests.writeConfig(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Self.expectRefused(Self.run(lab, ["run", "--config", path]), status: usage, saying: fragment, "file \(text.prefix(20))", lab: lab)
        }
        print("bad input: \(cases.count + files.count + 2) config files refused")
    }
}
