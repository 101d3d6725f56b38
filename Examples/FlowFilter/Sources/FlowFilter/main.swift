// FlowFilter IF1 IF2 DROP-PORT: forwards every frame between IF1 and IF2 (both ways, queue 0)
// except UDP to DROP-PORT, which it drops; counts IPv4 flows and prints them at the stop
// (SIGINT or SIGTERM), then the drain report.

import Foundation
import Synchronization
import XSKJobs

let arguments = CommandLine.arguments
guard arguments.count == 4, let dropPort = UInt16(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: FlowFilter IF1 IF2 DROP-UDP-PORT\n".utf8))
    exit(64)
}
TerminationSignals.block()
var configuration = RunnerConfiguration(interface: arguments[1])
configuration.secondInterface = arguments[2]
configuration.umemSizeMiB = 16
let runner: JobRunner
do {
    runner = try JobRunner(configuration: configuration)
} catch {
    FileHandle.standardError.write(Data("FlowFilter: \(error)\n".utf8))
    exit(1)
}
let flows = Mutex<(entries: [FlowTable.Entry], untracked: UInt64)>(([], 0))
runner.start { _ in
    FilterJob(dropPort: dropPort) { entries, untracked in flows.withLock { $0 = (entries, untracked) } }
}
FileHandle.standardOutput.write(Data("forwarding \(arguments[1]) <-> \(arguments[2]), dropping UDP to port \(dropPort)\n".utf8))
_ = runner.wait()  // SIGINT or SIGTERM (or a failed queue)
let report = runner.stop()

func address(_ value: UInt32) -> String { "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)" }
let names: [UInt8: String] = [1: "icmp", 6: "tcp", 17: "udp"]
let (entries, untracked) = flows.withLock { $0 }
for entry in entries.sorted(by: { $0.frames > $1.frames }) {
    let key = entry.key
    let ports = key.ipProtocol == 6 || key.ipProtocol == 17
    let source = address(key.source) + (ports ? ":\(key.sourcePort)" : "")
    let destination = address(key.destination) + (ports ? ":\(key.destinationPort)" : "")
    print("flow \(names[key.ipProtocol] ?? "ip \(key.ipProtocol)") \(source) -> \(destination): \(entry.frames) frames, \(entry.bytes) bytes, \(entry.dropped) dropped")
}
if untracked > 0 { print("untracked frames (table full): \(untracked)") }
for queue in report.reports { print("stopped \(queue)") }
print(report)
exit(report.isClean ? 0 : 1)
