// A throwaway network for tests and benchmarks: two network namespaces made for the purpose,
// joined by one veth pair with an end in each, so that no frame can ever leave the machine.
// No end sits in the root namespace (the pair is created directly inside the namespaces),
// addresses come from 198.18.0.0/15, and there is no default route. `destroy()` (also run on
// deinit) deletes both namespaces, which deletes the pair with them.

import CShims
import Foundation
import SystemCalls

public final class VethLab: @unchecked Sendable {
    public enum Side: Sendable {
        /// Where the generator (or a host talking to xskd) lives.
        case generator
        /// Where xskd's interface lives.
        case device
    }

    public let generatorNamespace: String
    public let deviceNamespace: String
    public let generatorInterface: String
    public let deviceInterface: String
    /// 198.18.N.1 on the generator end and 198.18.N.2 on the device end, /30.
    public let generatorAddress: String
    public let deviceAddress: String
    private let destroyed = LockedValue(false)

    private static let counter = LockedValue(0)

    /// Deletes labs left behind by test processes that died (a crash skips their clean-up):
    /// names carry the creating PID, and a lab whose PID is gone is an orphan. Runs once.
    private static let sweptOrphans: Bool = {
        let listing = (try? run("/usr/sbin/ip", ["netns", "list"])) ?? ""
        for line in listing.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix("xskd-gen-") || name.hasPrefix("xskd-dev-") else { continue }
            let id = name.dropFirst("xskd-gen-".count)
            guard let pid = Int32(id.split(separator: "x").first ?? ""), pid != getpid() % 100_000 else { continue }
            // Lab ids carry the PID modulo 100000; a live process with that PID keeps its labs.
            if kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? run("/usr/sbin/ip", ["netns", "delete", name])
            }
        }
        // Control sockets that a killed xskd left for a lab interface of a dead test process.
        let directory = "/run/xskd"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".sock") {
            let name = file.dropLast(".sock".count)
            guard ["xd", "xg", "fa", "fb"].contains(where: { name.hasPrefix($0) }) else { continue }
            let digits = name.dropFirst(2).prefix { $0.isNumber }
            guard let pid = Int32(digits), pid != getpid() % 100_000 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(directory)/\(file)") }
        }
        return true
    }()

    /// Makes the namespaces and the pair; `queues` RX/TX queues per end.
    ///
    /// IPv6 is off in both namespaces, so that the kernel sends no neighbour discovery of its
    /// own and tests can count frames exactly. GRO is on at the device end: a veth end accepts
    /// XDP frames from its peer (the generator's XDP_TX) only with an XDP program or GRO, and in
    /// skb mode there is no native program.
    public init(queues: Int = 1, mtu: Int? = nil) throws {
        _ = Self.sweptOrphans
        let serial = Self.counter.withLock { value -> Int in
            value += 1
            return value
        }
        let id = "\(getpid() % 100_000)x\(serial)"
        generatorNamespace = "xskd-gen-\(id)"
        deviceNamespace = "xskd-dev-\(id)"
        generatorInterface = "xg\(id)"
        deviceInterface = "xd\(id)"
        let subnet = (Int(getpid()) &* 31 &+ serial) % 250 + 1
        generatorAddress = "198.18.\(subnet).1"
        deviceAddress = "198.18.\(subnet).2"
        do {
            for namespace in [generatorNamespace, deviceNamespace] {
                try Self.ip("netns", "add", namespace)
                try Self.run(
                    "/usr/sbin/ip", ["netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"])
            }
            try Self.ip(
                "link", "add", generatorInterface, "netns", generatorNamespace,
                "numtxqueues", "\(queues)", "numrxqueues", "\(queues)",
                "type", "veth", "peer", "name", deviceInterface, "netns", deviceNamespace,
                "numtxqueues", "\(queues)", "numrxqueues", "\(queues)")
            for (namespace, interface, address) in [
                (generatorNamespace, generatorInterface, generatorAddress),
                (deviceNamespace, deviceInterface, deviceAddress),
            ] {
                if let mtu { try Self.ip("-n", namespace, "link", "set", interface, "mtu", "\(mtu)") }
                try Self.ip("-n", namespace, "address", "add", "\(address)/30", "dev", interface)
                try Self.ip("-n", namespace, "link", "set", interface, "up")
                try Self.ip("-n", namespace, "link", "set", "lo", "up")
            }
            try Self.run("/usr/sbin/ip", ["netns", "exec", deviceNamespace, "ethtool", "-K", deviceInterface, "gro", "on"])
        } catch {
            destroy()
            throw error
        }
    }

    /// A handle on a lab another process made (an exit test's child): it runs code in the
    /// lab's namespaces but never deletes them; their maker does.
    public static func existing(deviceNamespace: String, deviceInterface: String) -> VethLab {
        VethLab(adopting: deviceNamespace, deviceInterface: deviceInterface)
    }

    private init(adopting deviceNamespace: String, deviceInterface: String) {
        self.deviceNamespace = deviceNamespace
        self.deviceInterface = deviceInterface
        generatorNamespace = deviceNamespace.replacingOccurrences(of: "xskd-dev-", with: "xskd-gen-")
        generatorInterface = "xg" + deviceInterface.dropFirst(2)
        generatorAddress = ""
        deviceAddress = ""
        destroyed.withLock { $0 = true }
    }

    deinit { destroy() }

    /// Deletes both namespaces and the pair (idempotent).
    public func destroy() {
        let first = destroyed.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        for namespace in [generatorNamespace, deviceNamespace] {
            _ = try? Self.ip("netns", "delete", namespace)
        }
    }

    public func namespace(_ side: Side) -> String {
        side == .generator ? generatorNamespace : deviceNamespace
    }

    public func interface(_ side: Side) -> String {
        side == .generator ? generatorInterface : deviceInterface
    }

    /// Runs `body` on a fresh thread that has joined `side`'s network namespace, and waits for
    /// it. Sockets, interface look-ups and XDP attachments made there belong to that namespace;
    /// the calling thread's namespace is never changed.
    public func run<Result: Sendable>(in side: Side, _ body: @escaping @Sendable () throws -> Result) throws -> Result {
        let path = "/run/netns/\(namespace(side))"
        let outcome = LockedValue<Swift.Result<Result, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                outcome.withLock { $0 = .failure(SystemCallError(call: "open", errno: errno, context: path)) }
                return
            }
            defer { close(descriptor) }
            guard cshims_enter_network_namespace(descriptor) == 0 else {
                outcome.withLock { $0 = .failure(SystemCallError(call: "setns(CLONE_NEWNET)", errno: errno, context: path)) }
                return
            }
            let result = Swift.Result { try body() }
            outcome.withLock { $0 = result }
        }
        thread.start()
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Runs a command inside `side`'s namespace (`ip netns exec`), returning its output.
    @discardableResult
    public func exec(in side: Side, _ arguments: String...) throws -> String {
        try Self.run("/usr/sbin/ip", ["netns", "exec", namespace(side)] + arguments)
    }

    @discardableResult
    static func ip(_ arguments: String...) throws -> String {
        try run("/usr/sbin/ip", arguments)
    }

    /// Runs a program to completion; throws with its standard error when it fails.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw VethLabError(
                command: ([executable] + arguments).joined(separator: " "),
                status: process.terminationStatus,
                standardError: String(decoding: errorData, as: UTF8.self))
        }
        return String(decoding: outputData, as: UTF8.self)
    }
}

public struct VethLabError: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var standardError: String
    public var description: String { "`\(command)` exited with \(status): \(standardError)" }
}
