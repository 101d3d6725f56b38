import Foundation
import Testing
import TestSupport
import VethLab
@testable import XSK

/// What reaches a running xskd from outside other than traffic: its control socket and its
/// metrics endpoint.
@Suite("xskd's control socket and metrics endpoint", .serialized, Root.required)
struct ControlSocketTests {
    /// Runs `arguments` as nobody (uid 65534), returning the exit status and standard error.
    static func asNobody(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups"] + arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = err
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test(
        "only root is answered: the socket file is root's alone, and the peer's credentials are checked even when the file is opened up",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv (util-linux)"))
    func rootOnly() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let daemon = try DaemonTests.RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"])
        #expect(daemon.waitFor("xskd running"))
        let path = "/run/xskd/\(lab.deviceInterface).sock"
        let refused = try Self.asNobody([DaemonTests.binary, "stats", "-i", lab.deviceInterface])
        #expect(refused.status == 1, "\(refused.errors)")
        #expect(refused.errors.contains("permission denied on \(path): the control socket answers root and the daemon's own user only"), "\(refused.errors)")
        // Opened up by mistake (or by a hostile admin tool): the daemon still refuses non-root.
        chmod("/run/xskd", 0o755)
        defer { chmod("/run/xskd", 0o700) }
        chmod(path, 0o666)
        // The daemon answers at once, before reading: the send may find the socket closed.
        let script = """
            import socket
            s = socket.socket(socket.AF_UNIX)
            s.connect('\(path)')
            try:
                s.sendall(b'stats\\n')
            except OSError:
                pass
            print(s.recv(4096).decode())
            """
        let answered = try Self.asNobody(["/usr/bin/python3", "-c", script])
        #expect(answered.errors.contains("error: the control socket answers root and the daemon's own user only"), "\(answered.errors)")
        #expect(daemon.terminate() == 0)
    }

    @Test("2000 seeded random requests, one connection each: every one answered with one error line, and xskd carries on")
    func randomRequests() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let daemon = try DaemonTests.RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0"])
        #expect(daemon.waitFor("xskd running"))
        let path = "/run/xskd/\(lab.deviceInterface).sock"
        var random = SeededGenerator(seed: 7)
        let words = ["stats", "stat", "STATS", " ", "\r", "\t", "\0", "\u{1B}[2J", "é", "{\"stats\": 1}", "stats stats"]
        for round in 0..<2000 {
            var request: String
            if round % 2 == 0 {
                request = (0..<Int.random(in: 0...4, using: &random)).map { _ in words.randomElement(using: &random)! }.joined()
            } else {
                request = String(decoding: (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 1...255, using: &random) }, as: UTF8.self)
            }
            if round % 5 == 0 { request += "\n" }
            let reply = try DaemonTests.rawRequest(request, path: path)
            // What rawRequest sends (a newline added to short requests), judged as the daemon
            // reads it: the bytes up to the first newline, blanks around them forgiven.
            let sent = Array((request.count < 100 ? request + "\n" : request).utf8)
            let blanks: Set<UInt8> = [0x20, 0x09, 0x0D]
            let line = sent.firstIndex(of: 0x0A).map { sent[..<$0] }
            let isStats = line.map { Array($0.drop(while: blanks.contains).reversed().drop(while: blanks.contains).reversed()) == Array("stats".utf8) } ?? false
            if isStats {
                #expect(reply.hasPrefix("{"), "\(request.debugDescription): \(reply.prefix(80))")
            } else {
                #expect(reply.hasPrefix("error: ") && reply.hasSuffix("\n") && reply.dropLast().allSatisfy { $0.isASCII && !$0.isNewline },
                        "\(request.debugDescription): \(reply.debugDescription)")
            }
        }
        #expect(try VethLab.run(DaemonTests.binary, ["stats", "-i", lab.deviceInterface, "--json"]).contains("rx_packets_total"))
        #expect(daemon.terminate() == 0)
        #expect(daemon.output.withLock { $0 }.contains("drain report: every buffer came home"))
    }

    @Test("--metrics PORT listens on the loopbacks only: 127.0.0.1 and ::1, or 127.0.0.1 alone with a warning when IPv6 is off")
    func metricsOnLoopback() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let port = Int.random(in: 20000...40000)
        // The lab's namespaces have IPv6 off.
        let withoutIPv6 = try DaemonTests.RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0", "--metrics", "\(port)"])
        #expect(withoutIPv6.waitFor("metrics served"))
        #expect(withoutIPv6.waitFor("metrics not served on this loopback"))
        let listeningV4 = try lab.exec(in: .device, "ss", "-Hltn", "sport = :\(port)")
        #expect(listeningV4.contains("127.0.0.1:\(port)") && !listeningV4.contains("[::1]"), "\(listeningV4)")
        #expect(withoutIPv6.terminate() == 0)

        _ = try lab.exec(in: .device, "sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0")
        let daemon = try DaemonTests.RunningDaemon(lab: lab, arguments: ["run", "-i", lab.deviceInterface, "--stats-interval", "0", "--metrics", "\(port)"])
        #expect(daemon.waitFor("http://[::1]:\(port)/metrics"))
        let listening = try lab.exec(in: .device, "ss", "-Hltn", "sport = :\(port)")
        #expect(listening.contains("127.0.0.1:\(port)"), "\(listening)")
        #expect(listening.contains("[::1]:\(port)"), "\(listening)")
        #expect(!listening.contains("0.0.0.0:\(port)") && !listening.contains("*:\(port)") && !listening.contains("[::]:\(port)"), "\(listening)")
        #expect(daemon.terminate() == 0)
    }
}
