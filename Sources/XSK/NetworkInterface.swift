// A network interface as the kernel names it: its name and index in the calling thread's
// network namespace.

import CShims
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A network interface in the calling thread's network namespace: its name and index.
public struct NetworkInterface: Hashable, Sendable, CustomStringConvertible {
    /// The interface's name, as `ip link` shows it.
    public let name: String
    /// The interface's index (ifindex) in its network namespace.
    public let index: UInt32

    /// Looks the interface up by name (`if_nametoindex`) in this thread's network namespace.
    public init(named name: String) throws(XSKError) {
        guard !name.isEmpty, name.utf8.count < IFNAMSIZ else {
            throw .invalidArgument("interface name '\(name)' must be 1 to \(IFNAMSIZ - 1) bytes")
        }
        let index = if_nametoindex(name)
        guard index != 0 else { throw .noSuchInterface(name) }
        self.name = name
        self.index = index
    }

    /// The interface's name.
    public var description: String { name }
}
