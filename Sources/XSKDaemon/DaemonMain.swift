// The entry points the `xskd` executable calls: check the command line, and run the daemon as
// a swift-service-lifecycle service (SIGTERM and SIGINT stop it gracefully, SIGHUP reloads).

import ArgumentParser
import DaemonInput
import Logging
import ServiceLifecycle

/// The `xskd run` command's work, for the executable.
public enum DaemonMain {
    /// Everything the command line alone can get wrong, before any file is read.
    public static func validate(_ options: RunOptions) throws {
        _ = try Settings.resolve(command: options, file: nil, requireInterface: false)
    }

    /// Runs `xskd run` to its end: exit status 1 (thrown) for a runtime error.
    public static func run(_ options: RunOptions) async throws {
        let file = try options.config.map { try ConfigFile.load(path: $0) }
        let settings = try Settings.resolve(command: options, file: file, requireInterface: true)
        let level = settings.logLevel
        // Under systemd, standard error is the journal: priorities it understands, no timestamps.
        let journal = JournalLogHandler.standardErrorIsJournal()
        LoggingSystem.bootstrap { label in
            if journal {
                var handler = JournalLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "xskd")
        let service = DaemonService(daemon: Daemon(settings: settings, configPath: options.config, logger: logger))
        let group = ServiceGroup(
            configuration: .init(
                // The daemon returning (after --duration) is a normal end, not a failure: the group
                // shuts down gracefully and the run exits 0.
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}
