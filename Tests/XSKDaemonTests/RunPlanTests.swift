import ArgumentParser
import Testing
@testable import XSKDaemon
import XSK

/// Settings to plan: every refusal the daemon makes before it touches the machine, and the
/// runner configuration it builds, from facts given here. No root, no kernel.
@Suite("RunPlan: settings to what the runner builds")
struct RunPlanTests {
    static func settings(_ arguments: [String]) throws -> Settings {
        try Settings.resolve(command: RunOptions.parse(arguments), file: nil, requireInterface: true)
    }

    static func facts(up: Bool = true, queues: Int? = 4, peer: MachineFacts.Interface? = nil, cpus: Int = 2, memory: Int? = 4096) -> MachineFacts {
        MachineFacts(
            interfaces: [.init(name: "eth1", isUp: up, receiveQueues: queues)] + (peer.map { [$0] } ?? []),
            configuredCPUs: cpus, availableMemoryMiB: memory)
    }

    static func refusal(_ arguments: [String], _ facts: MachineFacts) throws -> String? {
        do {
            _ = try RunPlan.make(settings(["-i", "eth1"] + arguments), facts: facts)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a plan carries every setting to the runner")
    func plan() throws {
        let plan = try RunPlan.make(
            Self.settings([
                "-i", "eth1", "--queues", "all", "--ring-size", "1024", "--fill-size", "8192", "--batch", "32",
                "--wait", "spin", "--fill-strategy", "descriptor-slots", "--umem-size", "128", "--cpus", "1,0",
                "--filter-ip-protocol", "17", "--fragment-mtu", "1000",
            ]), facts: Self.facts())
        #expect(plan.interfaces == ["eth1"])
        #expect(plan.queues == [0, 1, 2, 3])
        #expect(plan.ringSize == 1024 && plan.fillRingSize == 8192 && plan.umemSizeMiB == 128)
        #expect(plan.poll.queue.batchSize == 32 && plan.poll.wait == .spin && plan.poll.queue.fillStrategy == .descriptorSlots)
        #expect(plan.poll.queue.mtu == 1000)
        #expect(plan.cpus == [1, 0])
        #expect(plan.filter.ipProtocol == 17)
        #expect(!plan.poll.busyPolling)
    }

    @Test("forward plans a second port on the same queues")
    func forward() throws {
        let plan = try RunPlan.make(
            Self.settings(["-i", "eth1", "--job", "forward", "--to", "eth2", "--queues", "0,1"]),
            facts: Self.facts(peer: .init(name: "eth2", isUp: true, receiveQueues: 2)))
        #expect(plan.interfaces == ["eth1", "eth2"])
        #expect(plan.queues == [0, 1])
    }

    @Test("refusals, each naming what is wrong")
    func refusals() throws {
        #expect(try Self.refusal([], Self.facts(up: false))?.contains("interface eth1 is down") == true)
        #expect(try Self.refusal(["--queues", "4"], Self.facts())?.contains("queue 4") == true)
        #expect(try Self.refusal(["--cpus", "2"], Self.facts())?.contains("cpu 2 does not exist: this machine has 2") == true)
        #expect(try Self.refusal(["--cpus", "0,1"], Self.facts())?.contains("--cpus lists 2 CPUs for 1 queue(s)") == true)
        #expect(try Self.refusal(["--umem-size", "5000"], Self.facts())?.contains("more than this machine can pin now (4096 MiB") == true)
        #expect(try Self.refusal(
            ["--job", "forward", "--to", "eth2"], Self.facts(peer: .init(name: "eth2", isUp: false, receiveQueues: 1)))?
            .contains("interface eth2 is down") == true)
        #expect(try Self.refusal(
            ["--job", "forward", "--to", "eth2", "--queues", "1"], Self.facts(peer: .init(name: "eth2", isUp: true, receiveQueues: 1)))?
            .contains("queue 1 does not exist on eth2") == true)
        #expect(try Self.refusal([], Self.facts()) == nil)
    }

    @Test("generate refuses frames longer than one UMEM chunk, naming the limit")
    func generateSizeBound() throws {
        #expect(throws: (any Error).self) { try Self.settings(["-i", "eth1", "--job", "generate", "--size", "2049"]) }
        do {
            _ = try Self.settings(["-i", "eth1", "--job", "generate", "--size", "3000"])
        } catch {
            #expect("\(error)".contains("more than one UMEM chunk (2048 bytes)"), "\(error)")
        }
        #expect(try Self.settings(["-i", "eth1", "--job", "generate", "--size", "2048"]).generate.size == 2048)
    }
}
