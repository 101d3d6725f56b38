// From settings to what the runner builds: which queues, which CPUs, which sizes, checked
// against what the machine has. Pure logic over `MachineFacts`, so that every refusal is
// unit-tested without root; `MachineFacts.read` is the only part that looks at the machine.

import Foundation
import XSK
import XSKJobs

/// What the plan needs to know of the machine.
struct MachineFacts: Sendable {
    struct Interface: Sendable {
        var name: String
        var isUp: Bool
        /// RX queues, from sysfs (nil when it does not say).
        var receiveQueues: Int?
    }

    var interfaces: [Interface]
    /// CPUs configured (sysconf).
    var configuredCPUs: Int
    /// MemAvailable plus free hugepages, in MiB (nil when unreadable).
    var availableMemoryMiB: Int?

    /// Reads the facts for `names` (each must exist: the error names it).
    static func read(interfaces names: [String]) throws(DaemonError) -> MachineFacts {
        var interfaces: [Interface] = []
        for name in names {
            let interface: NetworkInterface
            do {
                interface = try NetworkInterface(named: name)
            } catch {
                throw DaemonError("\(error)")
            }
            interfaces.append(Interface(
                name: interface.name, isUp: Daemon.isUp(interface), receiveQueues: Daemon.receiveQueueCount(interface)))
        }
        return MachineFacts(
            interfaces: interfaces, configuredCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_CONF))),
            availableMemoryMiB: Daemon.availableMemoryMiB())
    }
}

enum RunPlan {
    /// The runner's configuration for `settings` on a machine with `facts`, or the first
    /// reason it cannot run there.
    static func make(_ settings: Settings, facts: MachineFacts) throws(DaemonError) -> RunnerConfiguration {
        let port = facts.interfaces[0]
        guard port.isUp else {
            throw DaemonError("interface \(port.name) is down: bring it up with `ip link set \(port.name) up`")
        }
        let queues: [UInt32]
        do {
            queues = try settings.queues.resolve(available: port.receiveQueues, interface: port.name)
        } catch {
            throw DaemonError("\(error)")
        }
        if let cpus = settings.cpus {
            if let bad = cpus.first(where: { $0 >= facts.configuredCPUs }) {
                throw DaemonError("cpu \(bad) does not exist: this machine has \(facts.configuredCPUs) (0...\(facts.configuredCPUs - 1))")
            }
            if cpus.count > queues.count {
                throw DaemonError("--cpus lists \(cpus.count) CPUs for \(queues.count) queue(s): give at most one per queue, in queue order")
            }
        }
        // The UMEM is pinned memory: asking for more than the machine can give would end in the
        // OOM killer or a failed registration, not in a clear error.
        if let available = facts.availableMemoryMiB, settings.umemSize > available {
            throw DaemonError(
                "umem-size \(settings.umemSize) MiB is more than this machine can pin now (\(available) MiB available, free hugepages included)")
        }
        if facts.interfaces.count > 1 {
            let peer = facts.interfaces[1]
            guard peer.isUp else {
                throw DaemonError("interface \(peer.name) is down: bring it up with `ip link set \(peer.name) up`")
            }
            if let available = peer.receiveQueues, let bad = queues.first(where: { $0 >= available }) {
                throw DaemonError("queue \(bad) does not exist on \(peer.name): it has \(available) (0...\(available - 1))")
            }
        }
        var configuration = RunnerConfiguration(interface: port.name, queues: queues)
        configuration.secondInterface = settings.job == .forward ? settings.forwardTo : nil
        configuration.filter = settings.filter
        configuration.xdpMode = settings.xdpMode
        configuration.replaceForeignProgram = settings.force
        configuration.umemSizeMiB = settings.umemSize
        configuration.hugepages = settings.hugepages
        configuration.fillRingSize = settings.fillSize
        configuration.ringSize = settings.ringSize
        configuration.bindMode = settings.bindMode
        configuration.busyPoll = settings.busyPoll
        configuration.cpus = settings.cpus
        configuration.poll.wait = settings.wait
        configuration.poll.maxLatency = settings.maxLatency
        configuration.poll.residencySampling = settings.residencySampling
        configuration.capture = settings.capture
        configuration.poll.busyPolling = settings.busyPoll != nil
        configuration.poll.queue.batchSize = settings.batch
        configuration.poll.queue.fillStrategy = settings.fillStrategy
        configuration.poll.queue.mtu = settings.fragmentMTU
        return configuration
    }
}
