import Foundation
import Testing
import VethLab
@testable import XSK
import TestSupport

/// The `xskd-gen` executable, driven as a user would, into a socket on the lab's other end.
@Suite("xskd-gen, the in-kernel generator tool", .serialized, Root.required)
struct GeneratorToolTests {
    /// The built tool sits next to the test bundle in the build folder.
    static var toolPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("xskd-gen").path
    }

    @Test("sends the frames asked for, in order, with their sequence numbers")
    func sendsSequencedFrames() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.toolPath), "xskd-gen not built at \(Self.toolPath)")
        let lab = try VethLab()
        defer { lab.destroy() }
        let harness = try XSKHarness(lab: lab)
        let output = try VethLab.run(Self.toolPath, [
            "--netns", lab.generatorNamespace, "--interface", lab.generatorInterface,
            "--count", "1000", "--size", "128", "--first-sequence", "5000",
        ])
        #expect(output.contains("sent 1000 frames of 128 bytes"))
        var sequences: [UInt64] = []
        harness.receive { bytes, descriptor in
            #expect(descriptor.len == 128)
            sequences.append(TestFrame.sequence(in: bytes))
        }
        #expect(sequences == (5000..<6000).map { UInt64($0) })
        try harness.tearDown()
    }

    @Test("UDP frames are valid IPv4: the device's stack counts them as UDP to a closed port")
    func udpFramesReachTheStack() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        // The program passes what the filter does not match: here, everything but 0x88B5.
        let harness = try XSKHarness(lab: lab)
        try harness.programs.setFilter(TrafficFilter(ethertype: 0x88B5))
        let before = try Self.udpNoPorts(lab)
        _ = try VethLab.run(Self.toolPath, [
            "--netns", lab.generatorNamespace, "--interface", lab.generatorInterface, "--count", "100",
            "--udp-port", "9", "--source-address", lab.generatorAddress, "--destination-address", lab.deviceAddress,
            "--destination-mac", try Self.mac(of: lab.deviceInterface, in: lab),
        ])
        #expect(try Self.udpNoPorts(lab) - before == 100)
        #expect(harness.receive { _, _ in } == 0)
        try harness.tearDown()
    }

    @Test("count: XDP_DROP and XDP_TX attached for a while count exactly the frames sent meanwhile, and are detached after")
    func countsWithTheReferencePrograms() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        for program in ["drop", "reflect"] {
            let counter = Process()
            counter.executableURL = URL(fileURLWithPath: Self.toolPath)
            counter.arguments = ["count", "--netns", lab.deviceNamespace, "-i", lab.deviceInterface, "--program", program, "--duration", "1.5", "--json"]
            let out = Pipe()
            counter.standardOutput = out
            try counter.run()
            #expect(try eventually { try DaemonTests.attached(lab) != nil }, "\(program): attached")
            _ = try VethLab.run(Self.toolPath, ["--netns", lab.generatorNamespace, "--interface", lab.generatorInterface, "--count", "5000"])
            counter.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(counter.terminationStatus == 0)
            #expect(text.contains(#""program": "\#(program)""#) && text.contains(#""frames": 5000,"#), "\(program): \(text)")
            #expect(try DaemonTests.attached(lab) == nil, "\(program): detached after")
        }
    }

    @Test("bad arguments are refused with the usage exit code and a message")
    func badArguments() throws {
        for arguments in [
            ["--interface", "x", "--size", "10", "--count", "1"], ["--interface", "x"], ["--interface", "x", "--count", "1", "--destination-mac", "zz"],
            ["count", "-i", "x", "--duration", "0"], ["count", "-i", "x", "--program", "juggle"], ["count", "-i", "x", "--xdp-mode", "fast"],
        ] {
            do {
                _ = try VethLab.run(Self.toolPath, arguments)
                Issue.record("\(arguments) must fail")
            } catch let error as VethLabError {
                #expect(error.status == 64, "\(arguments): \(error)")
                #expect(error.standardError.contains("Error:"))
            }
        }
    }

    static func udpNoPorts(_ lab: VethLab) throws -> Int {
        let snmp = try lab.exec(in: .device, "cat", "/proc/net/snmp")
        let lines = snmp.split(separator: "\n").filter { $0.hasPrefix("Udp:") }
        let names = lines[0].split(separator: " ")
        let values = lines[1].split(separator: " ")
        let index = try #require(names.firstIndex(of: "NoPorts"))
        return Int(values[index])!
    }

    static func mac(of interface: String, in lab: VethLab) throws -> String {
        try lab.exec(in: .device, "cat", "/sys/class/net/\(interface)/address").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
