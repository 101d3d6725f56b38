// UDPEcho INTERFACE PORT: answers every UDP datagram to PORT on INTERFACE's queue 0 with the
// same payload, from AF_XDP rings. Everything else (ARP, other ports) stays with the kernel.
// Runs until SIGINT or SIGTERM, then prints the drain report.

import Foundation
import XSKJobs

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = UInt16(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: UDPEcho INTERFACE UDP-PORT\n".utf8))
    exit(64)
}
TerminationSignals.block()
var configuration = RunnerConfiguration(interface: arguments[1])
configuration.filter = TrafficFilter(ethertype: 0x0800, ipProtocol: 17, destinationPorts: port...port)
configuration.umemSizeMiB = 16
let runner: JobRunner
do {
    runner = try JobRunner(configuration: configuration)
} catch {
    FileHandle.standardError.write(Data("UDPEcho: \(error)\n".utf8))
    exit(1)
}
runner.start { _ in EchoJob() }
FileHandle.standardOutput.write(Data("echoing UDP port \(port) on \(arguments[1])\n".utf8))
_ = runner.wait()  // SIGINT or SIGTERM (or a failed queue)
let report = runner.stop()
for queue in report.reports { print("stopped \(queue)") }
print(report)
exit(report.isClean ? 0 : 1)
