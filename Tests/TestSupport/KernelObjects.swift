import Glibc

/// What the kernel holds for this process, read from /proc/self: the ring mappings and the
/// descriptors of one socket, named by its inode (`socket:[inode]` in both places).
public enum KernelObjects {
    public static func inode(of descriptor: Int32) -> UInt64? {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        return UInt64(status.st_ino)
    }

    /// The mappings in /proc/self/maps whose file is the socket with this inode.
    public static func ringMappings(ofSocket inode: UInt64) -> Int {
        guard let text = readWhole("/proc/self/maps") else { return -1 }
        let name = "socket:[\(inode)]"
        return text.split(separator: "\n").count(where: { $0.hasSuffix(name) })
    }

    /// Whether any descriptor in /proc/self/fd still refers to the socket with this inode.
    public static func descriptorsOpen(onSocket inode: UInt64) -> Bool {
        let name = "socket:[\(inode)]"
        guard let directory = opendir("/proc/self/fd") else { return true }
        defer { closedir(directory) }
        var buffer = [CChar](repeating: 0, count: 64)
        while let entry = readdir(directory) {
            let path = "/proc/self/fd/" + withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            let length = readlink(path, &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            let target = buffer.prefix(length).withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
            if target == name { return true }
        }
        return false
    }

    /// A proc file read to its end with read(2): its size says 0, and the kernel hands it out
    /// a page at a time.
    public static func readWhole(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
