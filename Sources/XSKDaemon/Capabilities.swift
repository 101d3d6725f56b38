// The capabilities xskd needs, checked in the effective set rather than by the user id: a
// service running as its own user with exactly these (systemd's AmbientCapabilities, or
// `setpriv --ambient-caps`) works as root does, and root without one of them (a container
// that dropped it) is told which is missing before anything is set up. CAP_IPC_LOCK is needed
// only when RLIMIT_MEMLOCK does not already cover the UMEM. Each was measured to be needed:
// without it, bpf_object__load (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), socket(AF_XDP)
// (CAP_NET_RAW) or XDP_UMEM_REG (CAP_IPC_LOCK) fails.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A set of Linux capabilities, as the kernel's bit mask.
public struct Capabilities: Equatable, Sendable {
    /// Bit N set: capability N is in the set.
    public var mask: UInt64

    /// One capability: its bit number and its name.
    public struct Capability: Sendable, Equatable {
        /// Its bit number (`CAP_NET_ADMIN` is 12).
        public let bit: Int
        /// Its name, as capabilities(7) spells it.
        public let name: String
        /// Why xskd needs it, for the error that says it is missing.
        public let reason: String
    }

    /// What xskd needs, and why.
    public static let required: [Capability] = [
        Capability(bit: 12, name: "CAP_NET_ADMIN", reason: "load the XDP program and attach it to the interface"),
        Capability(bit: 13, name: "CAP_NET_RAW", reason: "open AF_XDP sockets"),
        Capability(bit: 14, name: "CAP_IPC_LOCK", reason: "pin the UMEM, which RLIMIT_MEMLOCK does not cover"),
        Capability(bit: 38, name: "CAP_PERFMON", reason: "load the XDP program (without it the verifier refuses it: EACCES)"),
        Capability(bit: 39, name: "CAP_BPF", reason: "load the XDP program and create its maps"),
    ]

    /// A set from the kernel's mask.
    public init(mask: UInt64) { self.mask = mask }

    /// Whether `capability` is in the set.
    public func contains(_ capability: Capability) -> Bool { mask & (1 << UInt64(capability.bit)) != 0 }

    /// The required capabilities this set lacks.
    public var missing: [Capability] { missing(lockedMemoryAllowed: false) }

    /// The required capabilities this set lacks; CAP_IPC_LOCK is not required when
    /// `lockedMemoryAllowed` (RLIMIT_MEMLOCK already covers the UMEM).
    public func missing(lockedMemoryAllowed: Bool) -> [Capability] {
        Self.required.filter { !contains($0) && !(lockedMemoryAllowed && $0.bit == Self.ipcLock) }
    }

    /// The capability that lifts RLIMIT_MEMLOCK for UMEM registration (its bit, from the table).
    static let ipcLock = required.first { $0.name == "CAP_IPC_LOCK" }!.bit

    /// RLIMIT_MEMLOCK's soft limit in bytes, nil when unlimited; 0 when it cannot be read (the
    /// check then asks for CAP_IPC_LOCK, the safe side).
    public static func lockedMemoryLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else { return 0 }
        // RLIM_INFINITY is all ones.
        return limit.rlim_cur == rlim_t.max ? nil : UInt64(limit.rlim_cur)
    }

    /// The effective set of this process, from the CapEff line of /proc/self/status (nil if
    /// that cannot be read).
    public static func effective(status path: String = "/proc/self/status") -> Capabilities? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parse(status: text)
    }

    /// The CapEff line of a /proc/PID/status text.
    public static func parse(status text: String) -> Capabilities? {
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces)
            return UInt64(hex, radix: 16).map(Capabilities.init)
        }
        return nil
    }

    /// The error for a set that lacks some required capability, nil when it has them all.
    /// `lockedMemoryLimit` is RLIMIT_MEMLOCK in bytes (nil: unlimited) and `umemBytes` what the
    /// UMEM pins: a limit that covers it makes CAP_IPC_LOCK unnecessary.
    public func missingError(uid: UInt32, lockedMemoryLimit: UInt64? = 0, umemBytes: UInt64 = 1) -> String? {
        let allowed = lockedMemoryLimit.map { $0 >= umemBytes } ?? true
        let missing = missing(lockedMemoryAllowed: allowed)
        guard !missing.isEmpty else { return nil }
        let names = missing.map { "\($0.name) (to \($0.reason))" }.joined(separator: ", ")
        let all = Self.required.map(\.name).joined(separator: " ")
        return "xskd lacks \(names); run it as root, or as user \(uid) with these in its ambient set "
            + "(systemd: AmbientCapabilities=\(all))"
    }
}
