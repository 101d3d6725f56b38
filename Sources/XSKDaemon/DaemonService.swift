// The daemon as a swift-service-lifecycle service: the group turns SIGTERM and SIGINT into a
// graceful shutdown, which asks the control loop to stop (the queues then drain and the
// program is detached before `run` returns); SIGHUP asks it to reload the filter. The daemon
// itself runs on a thread of its own: its poll threads and control loop are plain threads,
// never tasks.

import Foundation
import ServiceLifecycle
import UnixSignals

struct DaemonService: Service {
    let daemon: Daemon

    func run() async throws {
        let events = DaemonEvents()
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { events.requestReload() }
                }
                try await Self.onThread { try daemon.run(events: events) }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            events.requestStop()
        }
    }

    /// Runs blocking work on a thread of its own and resumes when it ends.
    static func onThread(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            // glibc's default for a thread (8 MiB of address space, touched only as used): the
            // status snapshot copies each queue's sample (tens of KB, its measurements) per
            // field it reads, and under AddressSanitizer 1 MiB ran out there.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
