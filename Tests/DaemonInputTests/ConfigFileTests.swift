import Foundation
import Testing
@testable import DaemonInput

/// Config files that parse as JSON but say something twice.
@Suite("Config file: keys named twice")
struct ConfigFileTests {
    static func parse(_ text: String) throws -> ConfigFile {
        try ConfigFile.parse(Data(text.utf8), name: "config file test.json")
    }

    static func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a key named twice is refused, naming it, wherever it is and however it is spelt", arguments: [
        (#"{"ring-size": 2048, "batch": 64, "ring-size": 4096}"#, "'ring-size'"),
        (#"{"filter": {"ports": "9000", "ports": "9001"}}"#, "'filter.ports'"),
        (#"{"batch": 64, "\u0062atch": 32}"#, "'batch'"),
        (#"{"filter": {"ethertype": "0x0800"}, "filter": null}"#, "'filter'"),
        (#"{"log-level": "info", "log-level": "info"}"#, "'log-level'"),
    ])
    func refused(text: String, key: String) {
        let message = Self.refusal(text)
        #expect(message == "config file test.json names \(key) twice: keep one", "\(text)")
    }

    @Test("the same key in different objects, in strings and in values is not a repeat")
    func notRepeats() throws {
        let file = try Self.parse(#"""
            {"interface": "ports", "filter": {"ports": "9000-9100", "ethertype": "0x0800"},
             "job": "drop", "log-level": "info", "destination-mac": "02:00:00:00:00:01"}
            """#)
        #expect(file.interface == "ports")
        #expect(file.filter?.ports == "9000-9100")
        // Keys that look alike but differ, and braces and quotes inside strings.
        let tricky = try Self.parse(#"{"interface": "a\"}{,:\\", "queues": "0", "to": "{\"queues\": 1}"}"#)
        #expect(tricky.interface == #"a"}{,:\"#)
        #expect(tricky.to == #"{"queues": 1}"#)
    }

    @Test("the scanner follows nesting: keys repeat only within one object")
    func scannerNesting() {
        let first = { (text: String) in JSONDuplicateKeys.first(in: Data(text.utf8)) }
        #expect(first(#"{"a": {"b": 1}, "c": {"b": 2}}"#) == nil)
        #expect(first(#"[{"a": 1}, {"a": 2}]"#) == nil)
        #expect(first(#"{"a": [{"b": 1, "b": 2}]}"#) == "a.b")
        #expect(first(#"{"a": {"b": {"c": 1, "c": 1}}}"#) == "a.b.c")
        #expect(first(#"{"a": 1, "b": [1, {"x": 1}], "a": 2}"#) == "a")
        #expect(first(#""just a string""#) == nil)
        #expect(first(#"{}"#) == nil)
    }
}
