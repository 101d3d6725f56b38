// Option values: the input's first byte picks the parser, the rest is the text. Each value is
// refused in one line or parsed into something inside its documented bounds.

import ArgumentParser
import DaemonInput
import FuzzDriver  // the entry point

func refusal(_ error: any Error) {
    guard let error = error as? ValidationError else { preconditionFailure("not a ValidationError: \(error)") }
    precondition(!error.message.isEmpty && !error.message.contains("\n"), "bad refusal: \(error.message.debugDescription)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOptions(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard count > 0, let start else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: start + 1, count: count - 1), as: UTF8.self)
    do {
        switch start.pointee % 6 {
        case 0:
            if case .list(let queues) = try OptionValues.queues(text) {
                precondition(!queues.isEmpty && Set(queues).count == queues.count)
            }
        case 1:
            let busy = try OptionValues.busyPoll(text)
            precondition((1...1_000_000).contains(busy.microseconds) && (1...65535).contains(busy.budget))
        case 2:
            let cpus = try OptionValues.cpus(text)
            precondition(cpus.allSatisfy { (0..<4096).contains($0) })
        case 3:
            let halves = text.split(separator: "/", maxSplits: 1).map(String.init)
            let filter = try OptionValues.filter(ethertype: halves.first, ipProtocol: nil, ports: halves.count > 1 ? halves[1] : nil)
            if let ports = filter.destinationPorts { precondition(ports.lowerBound <= ports.upperBound) }
        case 4:
            let address = try OptionValues.macAddress(text, key: "destination-mac")
            precondition(address.count == 6)
        default:
            if let metrics = OptionValues.metricsAddress(text) { precondition(metrics.port > 0) }
        }
    } catch {
        refusal(error)
    }
    return 0
}
