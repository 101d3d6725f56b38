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

    @Test("latency cap, residency sampling and UDP endpoints reach the plan; their misuses are refused, naming why")
    func latencyAndUDPSettings() throws {
        let capped = try RunPlan.make(Self.settings(["-i", "eth1", "--max-latency", "50", "--job", "reflect"]), facts: Self.facts())
        #expect(capped.poll.maxLatency == .microseconds(50) && capped.poll.residencySampling == 64)
        #expect(try RunPlan.make(Self.settings(["-i", "eth1"]), facts: Self.facts()).poll.residencySampling == 0)
        #expect(try Self.settings(["-i", "eth1", "--job", "reflect", "--sample-residency", "0"]).residencySampling == 0)
        let udp = try Self.settings(["-i", "eth1", "--job", "generate", "--destination-ip", "198.18.0.2", "--destination-port", "9000"])
        #expect(udp.generate.udp == .init(source: [198, 18, 0, 1], destination: [198, 18, 0, 2], sourcePort: 9, destinationPort: 9000))
        #expect(udp.generate.size == 66, "the least a stamped datagram takes")
        let refusals: [([String], String)] = [
            (["--wait", "spin", "--max-latency", "50"], "max-latency bounds the adaptive wait"),
            (["--max-latency", "0"], "max-latency must be 1...1000000"),
            (["--sample-residency", "8"], "sample-residency applies to reflect and forward"),
            (["--job", "latency", "--destination-ip", "198.18.0.2"], "the latency job sends none"),
            (["--job", "generate", "--destination-ip", "198.18.0.2", "--size", "64"], "at least 66 bytes"),
            (["--job", "generate", "--destination-ip", "198.18.0"], "must be an IPv4 address"),
            (["--job", "generate", "--destination-ip", "198.18.0.2", "--destination-port", "0"], "destination-port must be 1...65535"),
            (["--job", "generate", "--source-port", "5"], "give destination-ip too"),
            (["--job", "generate", "--follow-sequences"], "follow-sequences applies to drop and reflect"),
        ]
        for (arguments, expected) in refusals {
            let refusal = try Self.refusal(arguments, Self.facts())
            #expect(refusal?.contains(expected) == true, "\(arguments): \(refusal ?? "accepted")")
        }
    }

    @Test("generate: frames longer than one UMEM chunk need multi-buffer, refused without it, naming the limit; 9000 bytes at most")
    func generateSizeBound() throws {
        let off = ["-i", "eth1", "--job", "generate", "--multi-buffer", "off"]
        #expect(throws: (any Error).self) { try Self.settings(off + ["--size", "2049"]) }
        do {
            _ = try Self.settings(off + ["--size", "3000"])
            Issue.record("3000 bytes accepted with --multi-buffer off")
        } catch {
            #expect("\(error)".contains("more than one UMEM chunk (2048 bytes)"), "\(error)")
        }
        #expect(try Self.settings(off + ["--size", "2048"]).generate.size == 2048)
        #expect(try Self.settings(["-i", "eth1", "--job", "generate", "--size", "9000"]).generate.size == 9000)
        #expect(throws: (any Error).self) { try Self.settings(["-i", "eth1", "--job", "generate", "--size", "9001"]) }
    }
}

extension RunPlanTests {
    @Test("capture settings: --write for the capture job, --tap for the others, and their refusals")
    func captureSettings() throws {
        let capture = try RunPlan.make(Self.settings(["-i", "eth1", "--job", "capture", "--write", "/tmp/x.pcapng", "--snap-length", "96",
            "--sample-capture", "10", "--rotate-size", "5", "--rotate-files", "4", "--capture-buffer", "16"]), facts: Self.facts())
        let settings = try #require(capture.capture)
        #expect(settings.path == "/tmp/x.pcapng" && settings.snapLength == 96 && settings.sampling == 10)
        #expect(settings.rotateBytes == 5 << 20 && settings.maximumFiles == 4 && settings.stagingBytes == 16 << 20)
        #expect(settings.inbound && !settings.outbound, "the capture job sends nothing")
        let tap = try #require(try Self.settings(["-i", "eth1", "--job", "reflect", "--tap", "-"]).capture)
        #expect(tap.toStandardOutput && tap.inbound && tap.outbound && tap.snapLength == 65535 && tap.sampling == 1)
        #expect(try Self.settings(["-i", "eth1"]).capture == nil)
        // A capture's rings are deeper by default (8192 and 8192: lossless at 1.6 Mfps where
        // 2048 and 4096 lost frames at 800 kfps); given sizes win; other jobs keep theirs.
        let deep = try Self.settings(["-i", "eth1", "--job", "capture", "--write", "x"])
        #expect(deep.ringSize == 8192 && deep.fillSize == 8192)
        let given = try Self.settings(["-i", "eth1", "--job", "capture", "--write", "x", "--ring-size", "1024", "--fill-size", "2048"])
        #expect(given.ringSize == 1024 && given.fillSize == 2048)
        let reflect = try Self.settings(["-i", "eth1", "--job", "reflect", "--tap", "x"])
        #expect(reflect.ringSize == 2048 && reflect.fillSize == 4096)
        let refusals: [([String], String)] = [
            (["--job", "capture"], "the capture job needs its file"),
            (["--job", "capture", "--tap", "x"], "--tap is for the other jobs"),
            (["--job", "drop", "--write", "x"], "use --tap FILE"),
            (["--snap-length", "100"], "describe a capture"),
            (["--tap", "x", "--snap-length", "0"], "snap-length must be 1...65535"),
            (["--tap", "x", "--sample-capture", "0"], "sample-capture must be 1...1000000"),
            (["--tap", "x", "--rotate-files", "3"], "give rotate-size or rotate-seconds too"),
            (["--tap", "-", "--rotate-seconds", "60"], "standard output cannot rotate"),
            (["--tap", "x", "--capture-buffer", "0"], "capture-buffer must be 1...4096"),
            (["--tap", ""], "name is empty"),
        ]
        for (arguments, expected) in refusals {
            let refusal = try Self.refusal(arguments, Self.facts())
            #expect(refusal?.contains(expected) == true, "\(arguments): \(refusal ?? "accepted")")
        }
    }
}

extension RunPlanTests {
    @Test("the UMEM's size follows the queues: every queue's rings full of buffers, at least 64 MiB; a given size too small refused with the size needed")
    func umemFollowsQueues() throws {
        let plan = { (arguments: [String], queues: Int?) in
            try RunPlan.make(Self.settings(["-i", "eth1"] + arguments), facts: Self.facts(queues: queues)).umemSizeMiB
        }
        // One queue: (4096 + 2 x 2048) buffers of 2 KiB = 16 MiB, + 1 for its caches' pages.
        #expect(try plan([], 4) == 64, "below the floor")
        #expect(try plan(["--queues", "all"], 16) == 16 * 17, "sixteen queues, each full")
        #expect(try plan(["--job", "capture", "--write", "x", "--queues", "0,1"], 4) == 2 * (((8192 + 2 * 8192) * 2048) >> 20) + 2, "two capture queues: 98 MiB")
        #expect(try plan(["--umem-size", "300", "--queues", "all"], 16) == 300, "a given size that is enough stays")
        let forwardFacts = Self.facts(queues: 4, peer: .init(name: "eth2", isUp: true, receiveQueues: 4))
        let forward = try RunPlan.make(
            Self.settings(["-i", "eth1", "--job", "forward", "--to", "eth2", "--queues", "0,1,2,3"]), facts: forwardFacts)
        #expect(forward.umemSizeMiB == 4 * (2 * 16 + 1), "two ports per queue")

        let tooSmall = try Self.refusal(["--umem-size", "64", "--queues", "all"], Self.facts(queues: 16))
        #expect(tooSmall?.contains("umem-size 64 MiB is too small for 16 queue(s)") == true, "\(tooSmall ?? "accepted")")
        #expect(tooSmall?.contains("give --umem-size 272 or more") == true, "\(tooSmall ?? "accepted")")
        let unpinnable = try Self.refusal(["--queues", "all"], Self.facts(queues: 16, memory: 200))
        #expect(unpinnable?.contains("umem-size 272 MiB (what 16 queue(s) need) is more than this machine can pin now") == true,
                "\(unpinnable ?? "accepted")")
    }
}
