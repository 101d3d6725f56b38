import Foundation
import XSKJobs

let usage = "usage: UDPSender INTERFACE SOURCE-IP DESTINATION-IP DESTINATION-MAC PORT COUNT RATE"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("UDPSender: \(message)\n".utf8))
    exit(64)
}

func parseIPv4(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    let bytes = parts.compactMap { UInt8($0) }
    return bytes.count == 4 ? bytes : nil
}

func parseMAC(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
    return bytes.count == 6 ? bytes : nil
}

let arguments = CommandLine.arguments
guard arguments.count == 8 else { fail(usage) }
let interface = arguments[1]
guard let sourceIP = parseIPv4(arguments[2]) else { fail("bad SOURCE-IP \(arguments[2])") }
guard let destinationIP = parseIPv4(arguments[3]) else { fail("bad DESTINATION-IP \(arguments[3])") }
guard let destinationMAC = parseMAC(arguments[4]) else { fail("bad DESTINATION-MAC \(arguments[4])") }
guard let port = UInt16(arguments[5]), port > 0 else { fail("bad PORT \(arguments[5])") }
guard let count = UInt64(arguments[6]) else { fail("bad COUNT \(arguments[6])") }
guard let rate = UInt64(arguments[7]), rate > 0 else { fail("bad RATE \(arguments[7]) (datagrams per second, > 0)") }
let addressFile = "/sys/class/net/\(interface)/address"
guard let macText = try? String(contentsOfFile: addressFile, encoding: .utf8),
      let sourceMAC = parseMAC(macText.trimmingCharacters(in: .whitespacesAndNewlines))
else { fail("cannot read the MAC address of \(interface) from \(addressFile)") }

let addresses = Addresses(
    sourceMAC: sourceMAC, destinationMAC: destinationMAC,
    sourceIP: sourceIP, destinationIP: destinationIP,
    sourcePort: port, destinationPort: port)

TerminationSignals.block()
var configuration = RunnerConfiguration(interface: interface)  // queue 0
// A transmit-only job wants nothing: let only UDP to our own port come to the socket, so
// that ARP and everything else stay with the kernel.
configuration.filter = TrafficFilter(ethertype: 0x0800, ipProtocol: 17, destinationPorts: port...port)
let runner: JobRunner
do {
    runner = try JobRunner(configuration: configuration)
} catch {
    FileHandle.standardError.write(Data("UDPSender: \(error)\n".utf8))
    exit(1)
}
runner.start { _ in UDPSenderJob(addresses: addresses, count: count, rate: rate) }
print("sending \(count) UDP datagrams to \(arguments[3]):\(port) at \(rate)/s from queue 0 of \(interface)")

// Until the job says it has sent everything, a signal arrives, or a queue fails.
let end = runner.wait()
let interrupted = end != .finished
let report = runner.stop()
// The queue's final counters (the non-zero ones).
for sample in runner.samples() {
    let fields = QueueSample.fields.filter { sample[$0] != 0 }
        .map { "\($0.name)=\(sample[$0])" }
    print("\(sample.interface) queue \(sample.queue): " + fields.joined(separator: " "))
}
print(report)
if interrupted { print("interrupted before every datagram was sent") }
exit(report.isClean && !interrupted ? 0 : 1)
