// Control-socket requests: whatever a client sends (cut at the read buffer's size, as the
// socket does), only a line saying "stats" is taken, and every refusal is one printable line.

import DaemonInput
import FuzzDriver  // the entry point

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControl(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: min(count, ControlRequest.maximumLength))
    switch ControlRequest.parse(bytes) {
    case .success(let request):
        precondition(request == .stats)
        let line = bytes.prefix(while: { $0 != UInt8(ascii: "\n") }).filter { ![0x20, 0x09, 0x0D].contains($0) }
        precondition(line.elementsEqual("stats".utf8), "took \(Array(bytes.prefix(32)))")
    case .failure(let refusal):
        let reply = Array(refusal.reply.utf8)
        precondition(reply.count <= 160 && reply.last == UInt8(ascii: "\n"), "reply \(refusal.reply.debugDescription)")
        precondition(reply.dropLast().allSatisfy { (0x20...0x7E).contains($0) }, "reply \(refusal.reply.debugDescription)")
    }
    return 0
}
