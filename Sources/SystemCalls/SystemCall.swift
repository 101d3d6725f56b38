// The wrapper every system call in xskd goes through: it reads errno at once, retries EINTR,
// and throws a `SystemCallError` that names the call and its context. Variants are separate
// functions (one per return convention), not flags.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum SystemCall {
    /// Runs a call that returns -1 and sets errno on failure (most of libc), retrying EINTR.
    ///
    /// `context` is evaluated only on failure, so building it costs nothing on success.
    @inlinable
    public static func checked<Result: FixedWidthInteger>(
        _ call: @autoclosure () -> String,
        context: @autoclosure () -> String = "",
        hint: (Int32) -> String? = { _ in nil },
        _ body: () -> Result
    ) throws(SystemCallError) -> Result {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = errno
            if error == EINTR { continue }
            throw SystemCallError(call: call(), errno: error, context: context(), hint: hint(error))
        }
    }

    /// Runs a call that returns a negative errno on failure (libbpf, libxdp), retrying EINTR.
    @inlinable
    public static func checkedNegativeErrno<Result: FixedWidthInteger & SignedInteger>(
        _ call: @autoclosure () -> String,
        context: @autoclosure () -> String = "",
        hint: (Int32) -> String? = { _ in nil },
        _ body: () -> Result
    ) throws(SystemCallError) -> Result {
        while true {
            let result = body()
            if result >= 0 { return result }
            let error = Int32(truncatingIfNeeded: -result)
            if error == EINTR { continue }
            throw SystemCallError(call: call(), errno: error, context: context(), hint: hint(error))
        }
    }

    /// `mmap(2)`: returns the mapping or throws; `MAP_FAILED` never escapes. `address` is a
    /// hint, or with `MAP_FIXED` where the mapping goes.
    public static func mmap(
        at address: UnsafeMutableRawPointer? = nil,
        length: Int,
        protection: Int32,
        flags: Int32,
        fileDescriptor: Int32 = -1,
        offset: Int = 0,
        context: @autoclosure () -> String
    ) throws(SystemCallError) -> UnsafeMutableRawPointer {
        let mapped = Glibc.mmap(address, length, protection, flags, fileDescriptor, off_t(offset))
        guard let mapped, mapped != MAP_FAILED else {
            let error = errno
            throw SystemCallError(
                call: "mmap", errno: error, context: context(),
                hint: error == ENOMEM && flags & MAP_HUGETLB != 0
                    ? "no free 2 MiB hugepages: reserve some with `sysctl vm.nr_hugepages=N`"
                    : nil)
        }
        return mapped
    }

    /// `munmap(2)`. A failure here is a bug in the caller (wrong address or length).
    public static func munmap(_ address: UnsafeMutableRawPointer, length: Int) throws(SystemCallError) {
        _ = try checked("munmap", context: "\(length) bytes at \(address)") {
            Glibc.munmap(address, length)
        }
    }
}
