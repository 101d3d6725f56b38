// Log lines for systemd's journal: when the service manager connected standard error to the
// journal (JOURNAL_STREAM names that stream's device and inode), each line starts with its
// syslog priority ("<3>" for an error, as sd-daemon(3) describes) so that `journalctl -p err`
// finds it, and carries no timestamp of its own (the journal stamps every line).

import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Writes `<priority>label: message key=value ...` lines to standard error.
public struct JournalLogHandler: LogHandler {
    /// Metadata logged with every line.
    public var metadata: Logger.Metadata = [:]
    /// Adds metadata when a line is logged.
    public var metadataProvider: Logger.MetadataProvider?
    /// The lowest level logged.
    public var logLevel: Logger.Level = .info
    let label: String

    /// A handler whose lines start with `label`.
    public init(label: String) { self.label = label }

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line for `event`.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = "<\(Self.priority(event.level))>\(label): \(event.message)"
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        // One write per line, so that lines from several threads never interleave.
        let bytes = Array((line.replacingOccurrences(of: "\n", with: " ") + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// The syslog priority of a level (0 emergency ... 7 debug).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error is the journal stream the service manager named in
    /// `JOURNAL_STREAM` ("DEVICE:INODE"): set and matching, not merely inherited by a child
    /// whose standard error went elsewhere.
    public static func standardErrorIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
