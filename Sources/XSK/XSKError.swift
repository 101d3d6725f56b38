// Errors of the AF_XDP layer that are not a bare errno: each says what was being done, on which
// interface and queue, and what to do about it.

import SystemCalls

/// An error of the AF_XDP layer that is not a bare errno: each says what was being done, on
/// which interface and queue, and what to do about it.
public enum XSKError: Error, Sendable, CustomStringConvertible {
    /// A system, libbpf or libxdp call failed.
    case system(SystemCallError)
    /// The interface does not exist (in this network namespace).
    case noSuchInterface(String)
    /// Another XDP program, not ours, is attached; xskd does not replace it unless forced.
    case foreignProgramAttached(interface: String, programName: String, programID: UInt32)
    /// The embedded BPF object lacks something xskd needs (a build problem).
    case malformedBPFObject(String)
    /// A value outside what the kernel or xskd accepts.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .system(let error):
            error.description
        case .noSuchInterface(let name):
            "interface \(name) does not exist"
        case .foreignProgramAttached(let interface, let name, let id):
            "interface \(interface) already runs XDP program '\(name)' (id \(id)), which is not xskd's; "
                + "detach it (`ip link set dev \(interface) xdp off`) or force the replacement"
        case .malformedBPFObject(let reason):
            "the embedded BPF object is unusable: \(reason)"
        case .invalidArgument(let reason):
            reason
        }
    }
}
