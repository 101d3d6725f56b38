import Foundation

/// Resident memory of a process (VmRSS in /proc/PID/status), for the tests that check memory
/// stays flat across many cycles: our own (`nil`) or a daemon's.
public enum ResidentMemory {
    public static func bytes(of pid: Int32? = nil) -> Int? {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kibibytes * 1024
    }
}
