// Config files: any bytes are parsed into a config or refused with one line that names the
// file; a parsed config parses the same way twice.

import ArgumentParser
import DaemonInput
import FuzzDriver  // the entry point
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Data(UnsafeBufferPointer(start: start, count: count))
    do {
        let file = try ConfigFile.parse(data, name: "config file fuzz.json")
        let again = try ConfigFile.parse(data, name: "config file fuzz.json")
        precondition(
            file.interface == again.interface && file.batch == again.batch && file.filter?.ipProtocol == again.filter?.ipProtocol,
            "the same bytes parsed two ways")
    } catch let error as ValidationError {
        precondition(error.message.hasPrefix("config file fuzz.json"), "a refusal that does not name the file: \(error.message)")
        precondition(!error.message.contains("\n"), "a refusal of more than one line: \(error.message.debugDescription)")
    } catch {
        preconditionFailure("a refusal that is not a ValidationError: \(error)")
    }
    return 0
}
