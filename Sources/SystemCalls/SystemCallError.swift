// A system call that failed, with everything an operator needs to act on it: which call,
// on what (interface, queue, path), the errno, and a hint when the cause is a known one.
// Every errno in xskd surfaces through this type so that no error message ever reads "-1".

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct SystemCallError: Error, Sendable, CustomStringConvertible {
    /// The C call that failed, e.g. `mmap` or `setsockopt(XDP_UMEM_REG)`.
    public var call: String
    /// The errno the call left.
    public var errno: Int32
    /// What the call was acting on: "interface veth0 queue 1", "UMEM of 64 MiB".
    public var context: String
    /// The likely cause and remedy, when the errno has a known meaning for this call.
    public var hint: String?

    public init(call: String, errno: Int32, context: String, hint: String? = nil) {
        self.call = call
        self.errno = errno
        self.context = context
        self.hint = hint
    }

    /// The C library's name for the errno (`ENOMEM`, `EBUSY`), for logs and tests.
    public var errnoName: String { Self.name(ofErrno: errno) }

    public var description: String {
        var text = "\(call) failed"
        if !context.isEmpty { text += " (\(context))" }
        text += ": \(errnoName): \(String(cString: strerror(errno)))"
        if let hint { text += "; \(hint)" }
        return text
    }

    /// The symbolic names of the errnos xskd can meet; others print as `errno N`.
    public static func name(ofErrno value: Int32) -> String {
        switch value {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case ENXIO: "ENXIO"
        case EBADF: "EBADF"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EFAULT: "EFAULT"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case ENODEV: "ENODEV"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case ERANGE: "ERANGE"
        case ENOSYS: "ENOSYS"
        case ENOBUFS: "ENOBUFS"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case EADDRINUSE: "EADDRINUSE"
        case ENETDOWN: "ENETDOWN"
        default: "errno \(value)"
        }
    }
}
