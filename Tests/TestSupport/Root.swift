import Testing

#if canImport(Glibc)
import Glibc
#endif

/// AF_XDP, BPF and network namespaces need root; without it the suites that use them skip,
/// saying so.
public enum Root {
    public static var isRoot: Bool { getuid() == 0 }
    public static let required = ConditionTrait.enabled(if: isRoot, "needs root: AF_XDP sockets, BPF programs and veth labs")
}
