// Unix-domain sockets the tests play the other end of: the daemon's control socket and the
// service manager's notify socket.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `path` as a socket address, and its length; "@name" is the abstract namespace (a zero byte
/// first, the length counting only the name).
public func unixSocketAddress(_ path: String) -> (address: sockaddr_un, length: socklen_t) {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
        if bytes.first == UInt8(ascii: "@") { raw[0] = 0 }
    }
    return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count))
}

/// Binds or connects `descriptor` to `path`; the system call's result.
public func unixSocketCall(_ descriptor: Int32, _ path: String, bind shouldBind: Bool) -> Int32 {
    var (address, length) = unixSocketAddress(path)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { shouldBind ? bind(descriptor, $0, length) : connect(descriptor, $0, length) }
    }
}

/// The service manager's notify socket (sd_notify(3)), played by a test: a datagram socket at
/// a path in the temporary directory, or in the abstract namespace.
public final class NotifySocket {
    public let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    /// What NOTIFY_SOCKET says: a path, or "@name".
    public let path: String

    public init(abstract: Bool = false, timeoutSeconds: Int = 10) throws {
        let name = "xskd-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        path = abstract ? "@\(name)" : FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        guard unixSocketCall(descriptor, path, bind: true) == 0 else {
            throw NSError(domain: "NotifySocket", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "bind \(path): errno \(errno)"])
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next message, nil once the timeout passes without one.
    public func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }

    /// The next message's assignments ("READY" -> "1"), nil once the timeout passes.
    public func receiveFields() -> [String: String]? {
        guard let text = receive() else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    deinit {
        close(descriptor)
        if !path.hasPrefix("@") { unlink(path) }
    }
}
