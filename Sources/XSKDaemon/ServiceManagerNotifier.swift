// The service manager's readiness protocol (sd_notify(3)), spoken without libsystemd: when
// NOTIFY_SOCKET names a datagram socket (a path, or "@name" in the abstract namespace), state
// lines such as READY=1 and STOPPING=1 are sent to it. Outside systemd it is unset and every
// call does nothing. A send that fails is logged once and otherwise ignored: readiness is the
// manager's concern, never a reason to stop moving frames.

import CShims
import Foundation
import Logging
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager (systemd) about the daemon's state, when it asked to be told.
public final class ServiceManagerNotifier: @unchecked Sendable {
    // Unchecked: used only from the daemon's control thread.
    private let address: sockaddr_un?
    private let addressLength: socklen_t
    private let path: String
    private let logger: Logger
    private var warned = false

    /// Reads NOTIFY_SOCKET from `environment`; nil or empty means no service manager listens.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.logger = logger
        let path = environment["NOTIFY_SOCKET"] ?? ""
        self.path = path
        guard path.hasPrefix("/") || path.hasPrefix("@") else {
            address = nil
            addressLength = 0
            return
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            logger.warning("NOTIFY_SOCKET is too long for a socket address; readiness will not be sent", metadata: ["path": "\(path)"])
            self.address = nil
            addressLength = 0
            return
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            // "@name" is the abstract namespace: the address starts with a zero byte.
            if bytes.first == UInt8(ascii: "@") { raw[0] = 0 }
        }
        self.address = address
        // An abstract address is as long as its name; a path's length includes nothing more.
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    }

    /// Whether a service manager asked for notifications.
    public var isActive: Bool { address != nil }

    /// Every queue bound and the program attached: the service has started.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }

    /// SIGHUP: the filter is being reloaded.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Shutdown has begun (the queues drain next).
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// A free-form status line for `systemctl status`.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Sends one datagram of newline-separated assignments.
    public func send(_ state: String) {
        guard var address else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return warnOnce(errno) }
        defer { close(descriptor) }
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength) }
            }
        }
        if sent < 0 { warnOnce(errno) }
    }

    private func warnOnce(_ error: Int32) {
        guard !warned else { return }
        warned = true
        logger.warning(
            "cannot notify the service manager", metadata: ["NOTIFY_SOCKET": "\(path)", "errno": "\(SystemCallError.name(ofErrno: error))"])
    }
}
