// `xskd stats`: asks the running daemon for a snapshot over its control socket, and prints a
// table, or JSON for scripts, once or refreshed in place.

import ArgumentParser
import Foundation
import XSKDaemon

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running xskd's queues: packets, rates, drops, buffers (root only).")

    @Option(name: .shortAndLong, help: "The interface the daemon runs on.")
    var interface: String

    @Flag(help: "Print the snapshot as JSON.")
    var json = false

    @Flag(help: "Refresh every second, in place, until interrupted.")
    var watch = false

    func run() throws {
        let path = ControlSocket.path(for: interface)
        repeat {
            let answer: String
            do {
                answer = try ControlSocket.request("stats", path: path)
            } catch {
                FileHandle.standardError.write(Data("xskd stats: \(error)\n".utf8))
                throw ExitCode(1)
            }
            if answer.hasPrefix("error:") {
                FileHandle.standardError.write(Data("xskd stats: \(answer)".utf8))
                throw ExitCode(1)
            }
            if json {
                print(answer, terminator: "")
            } else {
                guard let snapshot = try? JSONDecoder().decode(StatusSnapshot.self, from: Data(answer.utf8)) else {
                    FileHandle.standardError.write(Data("xskd stats: unreadable answer\n".utf8))
                    throw ExitCode(1)
                }
                if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(snapshot.table())
            }
            if watch { sleep(1) }
        } while watch
    }
}
