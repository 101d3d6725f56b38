import ArgumentParser
import DaemonInput
import Foundation
import Testing
import TestSupport

/// Inputs built to sit near the edges: pieces of valid values, separators, numbers at the
/// limits of their types, bytes that are not text, and byte-level mutations of valid inputs.
struct InputMaker {
    var random: SeededGenerator
    static let pieces = [
        "0", "1", "-1", "64", "65535", "65536", "4294967295", "4294967296", "9223372036854775807", "99999999999999999999",
        "0x", "0x0800", "0x88b5", "ffff", "all", "stats", ":", ",", "-", ".", " ", "\t", "\n", "\r", "\0", "1e9", "nan",
        "inf", "127.0.0.1", "255.255.255.255", "02:00:00:00:00:01", "\u{FEFF}", "é", "\"", "{", "}", "[", "]",
    ]

    mutating func text(maximum: Int = 8) -> String {
        (0..<Int.random(in: 0...maximum, using: &random)).map { _ in Self.pieces.randomElement(using: &random)! }.joined()
    }

    mutating func bytes(maximum: Int) -> [UInt8] {
        (0..<Int.random(in: 0...maximum, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    /// `seed` with a few bytes flipped, inserted, deleted or duplicated.
    mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var result = seed
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = result.isEmpty ? 0 : Int.random(in: 0..<result.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0 where !result.isEmpty: result[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
            case 1: result.insert(UInt8.random(in: 0...255, using: &random), at: position)
            case 2 where !result.isEmpty: result.remove(at: position)
            default:
                let end = min(result.count, position + Int.random(in: 1...16, using: &random))
                result.insert(contentsOf: result[position..<end], at: position)
            }
        }
        return result
    }
}

/// What every refusal must be: one line, saying something.
func expectOneLine(_ error: any Error, _ input: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let message = (error as? ValidationError)?.message ?? "\(error)"
    #expect(error is ValidationError, "\(input.debugDescription): \(type(of: error))", sourceLocation: sourceLocation)
    #expect(!message.isEmpty && !message.contains("\n"), "\(input.debugDescription): \(message.debugDescription)", sourceLocation: sourceLocation)
}

@Suite("Seeded random inputs for every parser of outside input")
struct SeededInputTests {
    static let rounds = 20_000

    @Test("option values: every input is refused in one line or parsed into a value inside its bounds")
    func optionValues() {
        var maker = InputMaker(random: SeededGenerator(seed: 1))
        for _ in 0..<Self.rounds {
            let text = maker.text()
            do {
                if case .list(let queues) = try OptionValues.queues(text) {
                    #expect(!queues.isEmpty && Set(queues).count == queues.count, "\(text.debugDescription)")
                }
            } catch { expectOneLine(error, text) }
            do {
                let busy = try OptionValues.busyPoll(text)
                #expect((1...1_000_000).contains(busy.microseconds) && (1...65535).contains(busy.budget), "\(text.debugDescription)")
            } catch { expectOneLine(error, text) }
            do {
                let cpus = try OptionValues.cpus(text)
                #expect(cpus.allSatisfy { (0..<4096).contains($0) }, "\(text.debugDescription)")
            } catch { expectOneLine(error, text) }
            do {
                let filter = try OptionValues.filter(ethertype: text, ipProtocol: nil, ports: maker.text())
                if let ports = filter.destinationPorts { #expect(ports.lowerBound <= ports.upperBound) }
            } catch { expectOneLine(error, text) }
            do {
                #expect(try OptionValues.macAddress(text, key: "destination-mac").count == 6)
            } catch { expectOneLine(error, text) }
            if let metrics = OptionValues.metricsAddress(text) {
                #expect(
                    metrics.port > 0 && !metrics.addresses.isEmpty
                        && metrics.addresses.allSatisfy { $0.split(separator: ".").count == 4 || OptionValues.MetricsAddress.isIPv6($0) },
                    "\(text.debugDescription)")
            }
        }
    }

    @Test("control requests: random and mutated bytes get one printable error line; only 'stats' is taken")
    func controlRequests() {
        var maker = InputMaker(random: SeededGenerator(seed: 2))
        let seeds = ["stats\n", " stats\r\n", "stats", "status\n", String(repeating: "s", count: 5000)].map { Array($0.utf8) }
        var taken = 0
        for round in 0..<(Self.rounds * 5) {
            let bytes: [UInt8] = switch round % 3 {
            case 0: maker.bytes(maximum: 64)
            case 1: Array(maker.text().utf8)
            default: maker.mutate(seeds[round % seeds.count])
            }
            let received = Array(bytes.prefix(ControlRequest.maximumLength))
            switch ControlRequest.parse(received) {
            case .success(let request):
                #expect(request == .stats)
                let line = received.prefix(while: { $0 != UInt8(ascii: "\n") }).filter { ![0x20, 0x09, 0x0D].contains($0) }
                #expect(line == Array("stats".utf8), "\(bytes)")
                taken += 1
            case .failure(let refusal):
                let reply = Array(refusal.reply.utf8)
                #expect(reply.last == UInt8(ascii: "\n") && reply.dropLast().allSatisfy { (0x20...0x7E).contains($0) }, "\(refusal.reply.debugDescription)")
                #expect(reply.count <= 160, "\(refusal.reply.debugDescription)")
            }
        }
        #expect(taken > 0, "the mutations of valid requests include some still valid")
    }

    static let validConfig = Array(#"""
        {"interface": "eth0", "queues": "0,1", "job": "reflect", "umem-size": 64, "ring-size": 2048,
         "filter": {"ethertype": "0x0800", "ip-protocol": 17, "ports": "9000-9100"}, "force": false,
         "rate": 1000.5, "destination-mac": "02:00:00:00:00:01", "metrics": "127.0.0.1:9100"}
        """#.utf8)

    /// A random JSON value of any type, sometimes nested, sometimes at the edge of a number type.
    static func value(_ maker: inout InputMaker, depth: Int = 0) -> String {
        switch Int.random(in: 0..<9, using: &maker.random) {
        case 0: return "null"
        case 1: return Bool.random(using: &maker.random) ? "true" : "false"
        case 2: return String(Int64.random(in: .min ... .max, using: &maker.random) >> Int.random(in: 0..<64, using: &maker.random))
        case 3: return ["1.5", "-0.0", "1e30", "1E-7", "4294967296", "256", "-1", "0"].randomElement(using: &maker.random)!
        case 4 where depth < 3:
            let keys = ConfigFile.keys + ConfigFile.Filter.keys + ["x", ""]
            let members = (0..<Int.random(in: 0...3, using: &maker.random)).map { _ in
                "\"\(keys.randomElement(using: &maker.random)!)\": \(value(&maker, depth: depth + 1))"
            }
            return "{" + members.joined(separator: ", ") + "}"
        case 5 where depth < 3: return "[" + value(&maker, depth: depth + 1) + "]"
        default:
            let text = maker.text().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
                .replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\0", with: "\\u0000")
            return "\"\(text)\""
        }
    }

    @Test("config files: random objects and mutated files are parsed or refused in one line naming the file")
    func configFiles() throws {
        var maker = InputMaker(random: SeededGenerator(seed: 3))
        var parsed = 0
        for round in 0..<Self.rounds {
            let bytes: [UInt8]
            if round % 2 == 0 {
                let members = (0..<Int.random(in: 0...6, using: &maker.random)).map { _ in
                    "\"\(ConfigFile.keys.randomElement(using: &maker.random)!)\": \(Self.value(&maker))"
                }
                bytes = Array(("{" + members.joined(separator: ", ") + "}").utf8)
            } else {
                bytes = maker.mutate(Self.validConfig)
            }
            do {
                let file = try ConfigFile.parse(Data(bytes), name: "config file fuzz.json")
                // What was taken has the type its key promises (checked by construction) and
                // survives being read again from the same bytes.
                let again = try ConfigFile.parse(Data(bytes), name: "config file fuzz.json")
                #expect(again.interface == file.interface && again.ringSize == file.ringSize && again.filter?.ports == file.filter?.ports)
                parsed += 1
            } catch {
                expectOneLine(error, String(decoding: bytes, as: UTF8.self))
                #expect((error as? ValidationError)?.message.hasPrefix("config file fuzz.json") ?? false)
            }
        }
        #expect(parsed > 0)
    }
}
