import Foundation
import SystemCalls
import Testing
import VethLab
@testable import XSK
import TestSupport

/// Captures read back with the readers operators use (tcpdump, tshark) and with an independent
/// pcapng reader written here: the frames in the file are the frames that crossed the veth.
/// Part of the end-to-end suite (serialized with it: each test loads both CPUs with traffic).
extension DaemonTests {
    /// A pcapng reader independent of xskd's writer: every block's framing checked (leading and
    /// trailing lengths, the byte-order magic), interfaces and packets out as JSON. A block cut
    /// short at the end of the file (a kill -9) ends the reading; `complete` says whether the
    /// file ended exactly at a block's end.
    static let pcapngReader = """
        import json, struct, sys
        def options(body, at):
            found = {}
            while at + 4 <= len(body):
                code, length = struct.unpack_from("<HH", body, at)
                if code == 0: break
                found[code] = body[at + 4:at + 4 + length]
                at += 4 + (length + 3) // 4 * 4
            return found
        result = {"files": []}
        for path in sys.argv[1:]:
            data = open(path, "rb").read()
            at, interfaces, packets, sections = 0, [], [], 0
            while at + 12 <= len(data):
                kind, length = struct.unpack_from("<II", data, at)
                if length < 12 or length % 4 or at + length > len(data): break
                assert struct.unpack_from("<I", data, at + length - 4)[0] == length, "trailing length"
                body = data[at + 8:at + length - 4]
                if kind == 0x0A0D0D0A:
                    assert struct.unpack_from("<I", body, 0)[0] == 0x1A2B3C4D
                    sections += 1
                elif kind == 1:
                    linktype, _, snap = struct.unpack_from("<HHI", body, 0)
                    found = options(body, 8)
                    interfaces.append({"linktype": linktype, "snap": snap, "name": found.get(2, b"").decode(),
                                       "description": found.get(3, b"").decode(), "tsresol": found.get(9, b"\\0")[0]})
                elif kind == 6:
                    interface, high, low, captured, original = struct.unpack_from("<IIIII", body, 0)
                    frame = body[20:20 + captured]
                    flags = struct.unpack("<I", options(body, 20 + (captured + 3) // 4 * 4).get(2, b"\\0\\0\\0\\0"))[0]
                    packets.append({"interface": interface, "time": (high << 32) | low, "original": original,
                                    "direction": flags & 3, "data": frame.hex()})
                at += length
            result["files"].append({"path": path, "sections": sections, "interfaces": interfaces, "packets": packets,
                                    "complete": at == len(data), "bytes": len(data)})
        json.dump(result, sys.stdout)
        """

    /// Sends `count` frames of random length (60 to `longest` bytes) and random content, of the
    /// local experimental ethertype, from the generator's end to `destination` through a packet
    /// socket, `pause` seconds apart every 50; prints each frame's bytes in hex, one per line.
    static let frameSender = """
        import os, random, socket, sys, time
        interface, destination, count, longest, seed, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        rng = random.Random(seed)
        source = bytes.fromhex(open(f"/sys/class/net/{interface}/address").read().strip().replace(":", ""))
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        out.bind((interface, 0))
        for index in range(count):
            length = rng.randint(60, longest)
            frame = bytes.fromhex(destination.replace(":", "")) + source + b"\\x88\\xb5" + rng.randbytes(length - 14)
            out.send(frame)
            print(frame.hex())
            if index % 50 == 49: time.sleep(pause)
        """

    struct CapturedPacket {
        var interface: Int
        var time: UInt64
        var original: Int
        var direction: Int
        var data: String
    }

    struct CaptureFile {
        var path: String
        var sections: Int
        var interfaces: [[String: Any]]
        var packets: [CapturedPacket]
        var complete: Bool
        var bytes: Int
        /// The packets of xskd's test ethertype (the lab's own IPv6 chatter left out).
        var testFrames: [CapturedPacket] { packets.filter { $0.data.count >= 28 && $0.data.dropFirst(24).prefix(4) == "88b5" } }
    }

    static func readCapture(_ paths: [String]) throws -> [CaptureFile] {
        let json = try VethLab.run("/usr/bin/python3", ["-c", pcapngReader] + paths)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return try #require(object["files"] as? [[String: Any]]).map { file in
            CaptureFile(
                path: file["path"] as? String ?? "", sections: file["sections"] as? Int ?? 0,
                interfaces: file["interfaces"] as? [[String: Any]] ?? [],
                packets: (file["packets"] as? [[String: Any]] ?? []).map { packet in
                    CapturedPacket(
                        interface: packet["interface"] as? Int ?? -1, time: (packet["time"] as? NSNumber)?.uint64Value ?? 0,
                        original: packet["original"] as? Int ?? 0, direction: packet["direction"] as? Int ?? 0,
                        data: packet["data"] as? String ?? "")
                },
                complete: file["complete"] as? Bool ?? false, bytes: file["bytes"] as? Int ?? 0)
        }
    }

    /// Frames sent from the generator's end to the device's MAC, in hex, in order.
    static func sendFrames(_ lab: VethLab, count: Int, longest: Int, seed: Int = 1, pause: Double = 0.002) throws -> [String] {
        let mac = try lab.exec(in: .device, "cat", "/sys/class/net/\(lab.deviceInterface)/address").trimmingCharacters(in: .whitespacesAndNewlines)
        let output = try lab.exec(in: .generator, "/usr/bin/python3", "-c", frameSender, lab.generatorInterface, mac, "\(count)", "\(longest)", "\(seed)", "\(pause)")
        return output.split(separator: "\n").map(String.init)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "xskd-capture-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// tcpdump's packet lines (it adds indented hex lines for an ethertype it does not know).
    static func packetLines(_ text: String) -> Int {
        text.split(separator: "\n").filter { !($0.first?.isWhitespace ?? true) }.count
    }

    static func isInstalled(_ tool: String) -> Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)") }

    @Test("capture: every received frame in the file byte for byte, read by tcpdump, tshark and a pcapng reader")
    func captureFramesByteForByte() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/received.pcapng"
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", file, "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let sent = try Self.sendFrames(lab, count: 400, longest: 1514)
        usleep(300_000)
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("capture: ") && output.contains("written to \(file)"), "\(output)")

        let captured = try #require(try Self.readCapture([file]).first)
        #expect(captured.complete && captured.sections == 1)
        #expect(captured.interfaces.count == 1)
        #expect(captured.interfaces.first?["name"] as? String == lab.deviceInterface)
        #expect(captured.interfaces.first?["tsresol"] as? Int == 9)
        let frames = captured.testFrames
        #expect(frames.count == sent.count, "captured \(frames.count) of \(sent.count)")
        #expect(frames.map(\.data) == sent, "the captured frames are not the frames sent")
        #expect(frames.allSatisfy { $0.direction == 1 && $0.original * 2 == $0.data.count })
        #expect(zip(captured.packets, captured.packets.dropFirst()).allSatisfy { $0.time <= $1.time }, "timestamps go backwards")
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        #expect(frames.allSatisfy { $0.time < now && now - $0.time < 60_000_000_000 }, "timestamps are not wall-clock nanoseconds")

        if Self.isInstalled("tcpdump") {
            let lines = try VethLab.run("/usr/bin/tcpdump", ["-r", file, "-nn", "ether proto 0x88b5"])
            #expect(Self.packetLines(lines) == sent.count, "tcpdump read \(Self.packetLines(lines)) frames")
        } else {
            Issue.record("tcpdump is not installed (scripts/bootstrap installs it): not read with it")
        }
        if Self.isInstalled("tshark") {
            let lengths = try VethLab.run("/usr/bin/tshark", ["-r", file, "-Y", "eth.type == 0x88b5", "-T", "fields", "-e", "frame.len"])
            #expect(lengths.split(separator: "\n").map { Int($0) ?? -1 } == sent.map { $0.count / 2 }, "tshark's frame lengths")
        } else {
            Issue.record("tshark is not installed (scripts/bootstrap installs it): not read with it")
        }
    }

    @Test("tap on reflect: what it receives and what it sends (MACs swapped), directions flagged, snap length kept")
    func tapOnReflect() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/reflect.pcapng"
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "reflect", "--tap", file, "--snap-length", "100", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let sent = try Self.sendFrames(lab, count: 300, longest: 1000, seed: 2)
        usleep(300_000)
        let fields = try Self.queueFields(lab)
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
        let captured = try #require(try Self.readCapture([file]).first)
        #expect(captured.complete)
        #expect(captured.interfaces.first?["snap"] as? Int == 100)
        let inbound = captured.testFrames.filter { $0.direction == 1 }
        let outbound = captured.testFrames.filter { $0.direction == 2 }
        #expect(inbound.map(\.data) == sent.map { String($0.prefix(200)) }, "received frames, first 100 bytes")
        #expect(inbound.map(\.original) == sent.map { $0.count / 2 })
        // The reflector swaps the MAC addresses (6 bytes each: 12 hex digits).
        let swapped = sent.map { frame in
            String(frame.dropFirst(12).prefix(12) + frame.prefix(12) + frame.dropFirst(24)).prefix(200)
        }.map(String.init)
        #expect(outbound.map(\.data) == swapped, "sent frames: the received ones with their MACs swapped")
        #expect((fields["capture_staged_total"] ?? 0) >= 2 * sent.count, "\(fields)")
        #expect(fields["capture_dropped_total"] == 0, "\(fields)")
    }

    @Test("tap on forward: both directions, each frame received on one port and sent unchanged on the other")
    func tapOnForward() throws {
        let lab = try ForwardLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/forward.pcapng"
        let daemon = try RunningDaemon(namespace: lab.middle, arguments: [
            "run", "-i", lab.portA, "--to", lab.portB, "--job", "forward", "--tap", file, "--stats-interval", "0",
        ])
        defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")

        let mac = { (host: String) in
            try lab.exec(host, ["cat", "/sys/class/net/eth0/address"]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let (macA, macB) = (try mac(lab.hostA), try mac(lab.hostB))
        let send = { (host: String, destination: String, seed: Int) in
            try lab.exec(host, ["/usr/bin/python3", "-c", Self.frameSender, "eth0", destination, "150", "1514", "\(seed)", "0.002"])
                .split(separator: "\n").map(String.init)
        }
        let fromA = try send(lab.hostA, macB, 7)
        let fromB = try send(lab.hostB, macA, 8)
        usleep(300_000)
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")

        let captured = try #require(try Self.readCapture([file]).first)
        #expect(captured.complete)
        #expect(captured.interfaces.map { $0["name"] as? String ?? "" } == [lab.portA, lab.portB], "\(captured.interfaces)")
        let frames = captured.testFrames
        let take = { (interface: Int, direction: Int) in
            frames.filter { $0.interface == interface && $0.direction == direction }.map(\.data)
        }
        // Port A (interface 0) receives what host A sends; port B (1) sends it on, unchanged.
        #expect(take(0, 1) == fromA, "received on port A")
        #expect(take(1, 2) == fromA, "sent on port B")
        #expect(take(1, 1) == fromB, "received on port B")
        #expect(take(0, 2) == fromB, "sent on port A")
        for interface in [0, 1] {
            let times = captured.packets.filter { $0.interface == interface }.map(\.time)
            #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 }, "timestamps go backwards on interface \(interface)")
        }
    }

    @Test("the capture writer runs off the poll thread's CPU; the poll thread stays on its own")
    func writerOffPollCPU() throws {
        let allowed = Set(try Self.allowedCPUs(of: "self"))
        guard allowed.count >= 2, let pollCPU = allowed.min() else {
            Issue.record("this process may use one CPU only: there is no other CPU to move the writer to, nothing checked")
            return
        }
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", directory + "/placed.pcapng",
            "--cpus", "\(pollCPU)", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let pid = daemon.process.processIdentifier
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        let sets = try threads.map { Set(try Self.allowedCPUs(of: "\(pid)/task/\($0)")) }
        #expect(sets.count(where: { $0 == [pollCPU] }) == 1, "one poll thread on CPU \(pollCPU): \(sets)")
        #expect(sets.contains(allowed.subtracting([pollCPU])), "the writer on every CPU but the poll thread's: \(sets)")
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
    }

    /// The CPUs in /proc/`task`/status's Cpus_allowed_list ("0-3,6").
    static func allowedCPUs(of task: String) throws -> [Int] {
        let status = try #require(KernelObjects.readWhole("/proc/\(task)/status"))
        let list = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
            .split(separator: "\t").last.map(String.init) ?? ""
        return list.split(separator: ",").flatMap { range -> [Int] in
            let ends = range.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    @Test("capture rotation by age: a new file once the current one is older than the limit, nothing lost between files")
    func captureRotationByAge() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", directory + "/aged.pcapng", "--rotate-seconds", "1",
            "--rotate-files", "20", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        // 600 frames, 50 every quarter of a second: about three seconds of traffic.
        let sent = try Self.sendFrames(lab, count: 600, longest: 300, seed: 9, pause: 0.25)
        usleep(300_000)
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect((3...6).contains(names.count), "\(names)")
        let files = try Self.readCapture(names.map { directory + "/" + $0 })
        #expect(files.allSatisfy { $0.complete && $0.sections == 1 && $0.interfaces.count == 1 })
        #expect(files.flatMap(\.testFrames).map(\.data) == sent, "the files together are not every frame sent, in order")
        for file in files {
            // A file's frames span no more than its age limit (plus one batch's lateness).
            let times = file.packets.map(\.time)
            if let first = times.first, let last = times.last {
                #expect(last - first <= 1_100_000_000, "\(file.path) spans \(Double(last - first) / 1e9) s")
            }
        }
    }

    @Test("capture to standard output, piped into tcpdump -r -")
    func captureToStandardOutput() throws {
        guard Self.isInstalled("tcpdump") else {
            Issue.record("tcpdump is not installed (scripts/bootstrap installs it): skipped")
            return
        }
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "ip netns exec \(lab.deviceNamespace) \(Self.binary) run -i \(lab.deviceInterface) --job capture --write - --duration 4 --stats-interval 0 2>\(directory)/errors | /usr/bin/tcpdump -r - -nn 'ether proto 0x88b5' >\(directory)/read 2>/dev/null"]
        try shell.run()
        let errors = { (try? String(contentsOfFile: directory + "/errors", encoding: .utf8)) ?? "" }
        let deadline = ContinuousClock.now + .seconds(10)
        while !errors().contains("xskd running"), shell.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        let sent = try Self.sendFrames(lab, count: 200, longest: 600, seed: 3)
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0, "\(errors())")
        let read = (try? String(contentsOfFile: directory + "/read", encoding: .utf8)) ?? ""
        #expect(Self.packetLines(read) == sent.count, "tcpdump read \(Self.packetLines(read)) of \(sent.count): \(errors())")
        // The report went to standard error, leaving standard output to the capture.
        #expect(errors().contains("capture: ") && errors().contains("drain report"), "\(errors())")
    }

    @Test("capture rotation by size keeps the newest files, each readable alone")
    func captureRotation() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", directory + "/ring.pcapng", "--rotate-size", "1",
            "--rotate-files", "3", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        // About 4.5 MB of frames: five files or more, of which the last three are kept.
        let sent = try Self.sendFrames(lab, count: 6000, longest: 1514, seed: 4, pause: 0.001)
        usleep(300_000)
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names.count == 3, "\(names)")
        #expect(names.allSatisfy { $0.hasPrefix("ring.") && $0.hasSuffix(".pcapng") && $0.count == "ring.0000.pcapng".count }, "\(names)")
        let files = try Self.readCapture(names.map { directory + "/" + $0 })
        #expect(files.allSatisfy { $0.complete && $0.sections == 1 && $0.interfaces.count == 1 })
        #expect(files.dropLast().allSatisfy { $0.bytes <= 1 << 20 && $0.bytes > (1 << 20) - 1600 }, "\(files.map(\.bytes))")
        // The kept files hold the last frames sent, in order, without a gap between files.
        let kept = files.flatMap(\.testFrames).map(\.data)
        #expect(!kept.isEmpty && kept == Array(sent.suffix(kept.count)), "the kept files are not the newest frames, in order")
    }

    @Test("capture onto a full disk: a clear log line, the file cut at a whole block, the job goes on")
    func captureFullDisk() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try VethLab.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "xskd-full", directory])
        defer { _ = try? VethLab.run("/usr/bin/umount", [directory]) }
        let file = directory + "/full.pcapng"
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", file, "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let sent = try Self.sendFrames(lab, count: 2000, longest: 1514, seed: 5, pause: 0.001)
        usleep(300_000)
        let fields = try Self.queueFields(lab)
        #expect(daemon.errors.withLock { $0 }.contains("capture stopped; the job goes on without it"))
        #expect(daemon.errors.withLock { $0 }.contains("ENOSPC"))
        #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
        // The job took every frame; the capture counted what it missed.
        #expect((fields["rx_packets_total"] ?? 0) >= sent.count, "\(fields)")
        #expect((fields["capture_dropped_total"] ?? 0) > 0, "\(fields)")
        let captured = try #require(try Self.readCapture([file]).first)
        #expect(captured.complete, "the file does not end at a block's end")
        let frames = captured.testFrames.map(\.data)
        #expect(!frames.isEmpty && frames == Array(sent.prefix(frames.count)))
        #expect(daemon.output.withLock { $0 }.contains("stopped early: cannot write \(file)"), "\(daemon.output.withLock { $0 })")
        if Self.isInstalled("tcpdump") {
            let lines = try VethLab.run("/usr/bin/tcpdump", ["-r", file, "-nn", "ether proto 0x88b5"])
            #expect(Self.packetLines(lines) == frames.count)
        }
    }

    @Test("kill -9 mid-capture leaves a file that opens, whole blocks but at most the last")
    func captureKilled() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/killed.pcapng"
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "capture", "--write", file, "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let sent = try Self.sendFrames(lab, count: 1000, longest: 1514, seed: 6, pause: 0.001)
        usleep(100_000)
        _ = daemon.terminate(signal: SIGKILL)
        let captured = try #require(try Self.readCapture([file]).first)
        let frames = captured.testFrames.map(\.data)
        #expect(frames.count >= sent.count - 100, "\(frames.count) of \(sent.count) frames in the file after kill -9")
        #expect(frames == Array(sent.prefix(frames.count)))
        if Self.isInstalled("tshark") {
            // A block cut short at the end makes tshark say so (exit 2) after the frames before it.
            let count = try VethLab.run("/bin/sh", ["-c", "/usr/bin/tshark -r '\(file)' -Y 'eth.type == 0x88b5' -T fields -e frame.len 2>/dev/null; true"])
            #expect(count.split(separator: "\n").count == frames.count)
        }
    }
}
