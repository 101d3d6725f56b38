// The daemon's control socket, /run/xskd/<interface>.sock: `xskd stats` asks it for a snapshot.
// Root and the daemon's own user only, twice over: the directory and socket are 0700/0600, and
// every connection's peer credentials are checked. Requests are one short line; anything
// malformed or too long gets an error line back, never a crash, and never blocks the daemon
// (one connection at a time, with a receive timeout).

import CShims
import DaemonInput
import Foundation
import Logging
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A running daemon's control socket, and the client side `xskd stats` uses.
public final class ControlSocket: @unchecked Sendable {
    /// /run/xskd, or the first directory of RUNTIME_DIRECTORY when a service manager set it
    /// (systemd's RuntimeDirectory=xskd sets it to /run/xskd): where a service user may write.
    static var directory: String {
        let given = ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first.map(String.init)
        return given.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/run/xskd"
    }

    let path: String
    private let descriptor: Int32
    private let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?
    private let logger: Logger
    private var snapshot: (@Sendable () -> StatusSnapshot)?

    /// Where the daemon on `interface` listens.
    public static func path(for interface: String) -> String { "\(directory)/\(interface).sock" }

    init(interface: String, logger: Logger) throws(DaemonError) {
        self.logger = logger
        path = Self.path(for: interface)
        let directory = Self.directory
        mkdir(directory, 0o700)
        chmod(directory, 0o700)
        if FileManager.default.fileExists(atPath: path) {
            // A live daemon answers; a socket left by one that was killed does not.
            if let probe = try? Self.connect(path: path) {
                Glibc.close(probe)
                throw DaemonError("another xskd is running on \(interface) (its control socket \(path) answers)")
            }
            unlink(path)
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw DaemonError("socket(AF_UNIX) failed: \(SystemCallError.name(ofErrno: errno))") }
        var address = Self.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o600) == 0, listen(descriptor, 8) == 0 else {
            let error = errno
            Glibc.close(descriptor)
            throw DaemonError("cannot serve the control socket \(path): \(SystemCallError.name(ofErrno: error))")
        }
    }

    /// Serves requests on a thread of its own until `stop()`.
    func start(snapshot: @escaping @Sendable () -> StatusSnapshot) {
        self.snapshot = snapshot
        thread = JoinableThread { [self] in serve() }
    }

    /// Stops serving (if it started), closes and removes the socket. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        if let thread {
            stopping.store(true, ordering: .releasing)
            thread.join()
        }
        Glibc.close(descriptor)
        unlink(path)
    }

    private var closed = false

    private func serve() {
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while !stopping.load(ordering: .acquiring) {
            guard poll(&request, 1, 200) > 0 else { continue }
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            answer(client)
            Glibc.close(client)
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var peer: UInt32 = .max
        guard cshims_peer_uid(client, &peer) == 0, peer == 0 || peer == geteuid() else {
            reply(client, "error: the control socket answers root and the daemon's own user only\n")
            return
        }
        var buffer = [UInt8](repeating: 0, count: ControlRequest.maximumLength)
        var received = 0
        while received < buffer.count {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress! + received, $0.count - received, 0) }
            if count <= 0 { break }
            received += count
            if buffer[..<received].contains(UInt8(ascii: "\n")) { break }
        }
        switch ControlRequest.parse(buffer[..<received]) {
        case .failure(let refusal):
            reply(client, refusal.reply)
            return
        case .success(.stats):
            break
        }
        guard let snapshot else {
            reply(client, "error: not ready yet\n")
            return
        }
        guard let data = try? JSONEncoder().encode(snapshot()) else {
            reply(client, "error: cannot encode the snapshot\n")
            return
        }
        reply(client, String(decoding: data, as: UTF8.self) + "\n")
    }

    private func reply(_ client: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeMutableBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
        }
        return address
    }

    /// Connects to a daemon's control socket.
    static func connect(path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw DaemonError("socket(AF_UNIX) failed") }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(descriptor)
            switch error {
            case EACCES, EPERM:
                throw DaemonError("permission denied on \(path): the control socket answers root and the daemon's own user only")
            case ENOENT:
                throw DaemonError("no xskd is running on this interface (\(path) does not exist)")
            default:
                throw DaemonError("no xskd answers at \(path) (\(SystemCallError.name(ofErrno: error)))")
            }
        }
        return descriptor
    }

    /// Sends one request and reads the whole answer.
    public static func request(_ line: String, path: String) throws -> String {
        let descriptor = try connect(path: path)
        defer { Glibc.close(descriptor) }
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { send(descriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count <= 0 { break }
            answer += chunk[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
