// `xskd stats`: asks the running daemon for a snapshot over its control socket, and prints a
// table, or JSON for scripts, once or refreshed in place. The daemon sends raw totals; with
// --watch the rates are this client's, over the second between two of its own snapshots.

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

    @Flag(help: "Refresh every second, in place, with rates over that second, until interrupted.")
    var watch = false

    @Flag(help: "Show the counters that are still 0 too.")
    var all = false

    func run() throws {
        let path = ControlSocket.path(for: interface)
        var previous: StatusSnapshot?
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
                print(snapshot.table(previous: previous, all: all))
                previous = snapshot
            }
            if watch { sleep(1) }
        } while watch
    }
}
