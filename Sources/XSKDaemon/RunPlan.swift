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
    /// The UMEM's size when none is given and the queues need less.
    static let defaultUmemMiB = 64
    /// The most one buffer takes: the UMEM's chunk (a frame, or a fragment of one, never
    /// spans more).
    static let bufferBytes = Int(Umem.Configuration().chunkSize)

    /// The MiB of UMEM the queues may hold at once: per queue and port, a full fill ring and
    /// full RX and TX rings of buffers (a reflected or forwarded frame sits in a TX ring while
    /// its RX slot is refilled), plus 1 MiB per queue for the partly used pages its caches
    /// hold (the pool rounds the total up to its own pages). Less than this and some queue
    /// can find the pool empty: with the old fixed 64 MiB and 16 queues, queues 8-15 got no
    /// fill buffers and received nothing, silently.
    static func umemNeeded(_ settings: Settings, queues: Int) -> Int {
        let ports = settings.job == .forward ? 2 : 1
        let buffers = Int(settings.fillSize) + 2 * Int(settings.ringSize)
        let bytes = queues * ports * buffers * bufferBytes
        return ((bytes + (1 << 20) - 1) >> 20) + queues
    }

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
        let needed = umemNeeded(settings, queues: queues.count)
        let umemSize = settings.umemSize ?? max(defaultUmemMiB, needed)
        if let given = settings.umemSize, given < needed {
            throw DaemonError(
                "umem-size \(given) MiB is too small for \(queues.count) queue(s)\(settings.job == .forward ? " on two ports" : ""): "
                    + "each port of a queue may hold a fill ring (\(settings.fillSize)), an RX ring and a TX ring (\(settings.ringSize) each) "
                    + "of \(bufferBytes)-byte buffers, \(needed) MiB in all; give --umem-size \(needed) or more, or fewer queues or smaller rings")
        }
        // The UMEM is pinned memory: asking for more than the machine can give would end in the
        // OOM killer or a failed registration, not in a clear error.
        if let available = facts.availableMemoryMiB, umemSize > available {
            throw DaemonError(
                "umem-size \(umemSize) MiB\(settings.umemSize == nil ? " (what \(queues.count) queue(s) need)" : "") is more than this machine can pin now (\(available) MiB available, free hugepages included)")
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
        configuration.umemSizeMiB = umemSize
        configuration.hugepages = settings.hugepages
        configuration.chunks = settings.umemChunks
        configuration.fillRingSize = settings.fillSize
        configuration.ringSize = settings.ringSize
        configuration.bindMode = settings.bindMode
        configuration.multiBuffer = settings.multiBuffer
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
